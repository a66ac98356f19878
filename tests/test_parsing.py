"""reward_fns.parsing: the final SQL (or script, answer, citations) is pulled out of a completion the way
the rules say.

Every completion is written inline, with a comment on why it extracts what it does.  The last
tests fuzz every extractor with hypothesis: they never raise on any text.
"""
from __future__ import annotations

import dataclasses

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from env_server.tasks.spec import split_statements
from reward_fns.parsing import (
    DOC_ID,
    NO_SCRIPT,
    NO_SQL,
    Extraction,
    citation_blocks,
    completion_text,
    extract_answer,
    extract_citations,
    extract_script,
    extract_sql,
)


def _one_statement(sql: str) -> bool:
    parsed = sqlglot.parse(sql, read="sqlite")
    return len([s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]) == 1


# --------------------------------------------------------------------------- blocks


def test_a_sql_fence_is_the_answer():
    # A ```sql fence is a block; its trailing ';' and surrounding whitespace are dropped.
    r = extract_sql("Here is the query:\n```sql\nSELECT name FROM users WHERE age > 30;\n```\nIt filters by age.")
    assert r == Extraction("SELECT name FROM users WHERE age > 30", "fence", 1, None)
    assert r.ok


def test_an_untagged_fence_is_a_block_too():
    # A fence with no language is taken as SQL; so is an upper-case SQL/SQLite tag.
    assert extract_sql("```\nSELECT 1\n```") == Extraction("SELECT 1", "fence", 1, None)
    assert extract_sql("```SQLite\nSELECT 2\n```").sql == "SELECT 2"


def test_sql_tags_are_blocks_case_insensitively():
    # <sql>...</sql> is a block whatever the tag's case.
    r = extract_sql("Answer: <SQL>\n  SELECT COUNT(*) FROM orders;\n</SQL>")
    assert r == Extraction("SELECT COUNT(*) FROM orders", "sql_tag", 1, None)


def test_a_fence_inside_a_sql_tag_is_unwrapped():
    # Models sometimes wrap a fence in the tag: the SQL inside both is the answer, one block.
    r = extract_sql("<sql>\n```sql\nSELECT 9\n```\n</sql>")
    assert (r.sql, r.source, r.blocks, r.ok) == ("SELECT 9", "sql_tag", 1, True)


def test_two_blocks_the_last_wins_and_both_are_counted():
    # The final answer is the last block; format_reward separately wants exactly one, hence blocks == 2.
    text = "First try:\n```sql\nSELECT a FROM t\n```\nBetter:\n<sql>SELECT b FROM t</sql>"
    assert extract_sql(text) == Extraction("SELECT b FROM t", "sql_tag", 2, None)


def test_a_python_fence_is_not_a_block_and_is_not_searched():
    # The SELECT lives inside python code: not a block, and the trailing search skips fenced code.
    text = "```python\ncur.execute('SELECT a FROM t')\n```\nThat's the code."
    assert extract_sql(text) == Extraction(None, None, 0, NO_SQL)
    # ...but a SELECT after the python fence is still found as a trailing statement.
    r = extract_sql(text + "\nOr in SQL:\nSELECT b FROM u")
    assert (r.sql, r.source, r.blocks) == ("SELECT b FROM u", "trailing", 0)


def test_unparseable_sql_is_kept_with_the_reason():
    # WHERE with no condition: the SQL is still returned so a grader can show the syntax error.
    r = extract_sql("<sql>SELECT id FROM t WHERE</sql>")
    assert r.sql == "SELECT id FROM t WHERE" and r.source == "sql_tag" and not r.ok
    assert r.error.startswith("the <sql> block does not parse: ")
    assert "WHERE" in r.error


def test_two_statements_in_one_block_are_refused():
    # One block, two statements: sql is kept, the error asks for one.
    r = extract_sql("```sql\nSELECT 1;\nSELECT 2;\n```")
    assert r.sql == "SELECT 1;\nSELECT 2"
    assert r.error == "the fenced block holds 2 statements; submit one"


def test_an_empty_fence_gives_no_sql():
    # Nothing between the fences: nothing usable, and the error says so.
    assert extract_sql("```sql\n\n```") == Extraction(None, "fence", 1, "the fenced block is empty")
    # A block with nothing but a comment holds no statement either.
    assert extract_sql("<sql>-- TODO</sql>") == Extraction(None, "sql_tag", 1, "the <sql> block holds no SQL statement")


def test_a_fence_cut_off_by_the_length_limit_is_an_error():
    # max_completion_length hit inside the fence: a block, but never closed, so not ok.
    r = extract_sql("```sql\nSELECT a, b FROM t WHERE")
    assert (r.sql, r.source, r.blocks) == ("SELECT a, b FROM t WHERE", "fence", 1)
    assert "never closed" in r.error and "does not parse" in r.error


# --------------------------------------------------------------------------- trailing statement


def test_a_trailing_select_ends_at_its_semicolon():
    # No block: the last SELECT is the answer, and the ';' token ends it; the prose after is dropped.
    r = extract_sql("I joined the two tables. Here is the query: SELECT u.name FROM users u JOIN orders o ON o.uid = u.id; that lists buyers.")
    assert r == Extraction("SELECT u.name FROM users u JOIN orders o ON o.uid = u.id", "trailing", 0, None)


def test_a_trailing_select_ends_before_a_blank_line_of_prose():
    # No ';': the longest prefix that parses, cut at the blank line before the prose.
    r = extract_sql("The query:\nSELECT id\nFROM t\nWHERE x > 1\n\nThis query returns every matching id.")
    assert (r.sql, r.ok) == ("SELECT id\nFROM t\nWHERE x > 1", True)


def test_a_trailing_select_ends_at_a_full_stop():
    # A '.' token followed by a space ends the sentence; the apostrophe after it does not matter.
    assert extract_sql("Here's the query: SELECT a FROM t. It's simple.").sql == "SELECT a FROM t"
    # The tokenizer reads "10." as a number; before a space it is still a full stop.
    assert extract_sql("Use SELECT a FROM t LIMIT 10. It returns ten rows.").sql == "SELECT a FROM t LIMIT 10"


def test_a_trailing_with_query_keeps_its_subqueries():
    # The CTE's inner SELECTs are nested in the outer statement, so the whole WITH is the answer.
    sql = "WITH big AS (SELECT id FROM orders WHERE total > 100) SELECT COUNT(*) FROM big"
    assert extract_sql(f"Use a CTE:\n{sql}\n") == Extraction(sql, "trailing", 0, None)


def test_the_last_of_several_trailing_statements_wins():
    # Two statements in prose: the last one is the answer.
    assert extract_sql("SELECT a FROM t; or rather SELECT b FROM t;").sql == "SELECT b FROM t"


def test_prose_select_is_not_sql():
    # Lower-case "select the name" parses, but reads FROM nothing: prose, not an answer.
    r = extract_sql("I will select the name column with care.")
    assert r == Extraction(None, None, 0, NO_SQL)
    assert "no SQL found" in r.error and "```sql fence" in r.error and "SELECT/WITH" in r.error


def test_a_broken_trailing_statement_is_reported():
    # Upper-case SELECT ended by ';' that does not parse: kept, with the parser's complaint.
    r = extract_sql("SELECT name FORM users;")
    assert r.sql == "SELECT name FORM users" and r.source == "trailing"
    assert r.error.startswith("the trailing statement does not parse: ")


def test_a_truncated_trailing_statement_is_not_shortened_into_a_valid_one():
    # The text ends inside the statement: "SELECT a FROM t" would parse, but it is not what was written.
    r = extract_sql("SELECT a FROM t WHERE x >")
    assert r.sql == "SELECT a FROM t WHERE x >" and not r.ok


# --------------------------------------------------------------------------- reasoning


def test_think_sections_are_stripped():
    # The SELECT inside <think> is reasoning; the answer is the block after it.
    r = extract_sql("<think>Maybe SELECT * FROM t? No.</think>\n<sql>SELECT id FROM t</sql>")
    assert r == Extraction("SELECT id FROM t", "sql_tag", 1, None)
    # <reasoning> works the same, and its fence is not counted as a block.
    r = extract_sql("<reasoning>```sql\nSELECT 0\n```</reasoning>```sql\nSELECT 1\n```")
    assert (r.sql, r.blocks) == ("SELECT 1", 1)


def test_an_unclosed_think_means_there_is_no_answer():
    # Everything after an unclosed <think> is reasoning, even a fence: nothing to extract.
    r = extract_sql("Plan.\n<think>I could write\n```sql\nSELECT 1\n```\nbut")
    assert r.sql is None and r.source is None and r.blocks == 0
    assert r.error.startswith(NO_SQL) and "unclosed <think>" in r.error


def test_a_closing_think_tag_alone_ends_the_reasoning():
    # Chat templates open <think> in the prompt: the completion starts mid-reasoning.
    assert extract_sql("hmm, SELECT 0 maybe</think>\nFinal: SELECT 3").sql == "SELECT 3"


# --------------------------------------------------------------------------- completion shapes


def test_a_chat_message_list_is_read():
    # TRL conversational completions: a list with one assistant message.
    completion = [{"role": "assistant", "content": "```sql\nSELECT 1\n```"}]
    assert extract_sql(completion) == Extraction("SELECT 1", "fence", 1, None)
    # A single message dict is read the same way.
    assert extract_sql(completion[0]).sql == "SELECT 1"


def test_content_as_parts_is_read():
    # Content given as typed parts: the text parts are joined, an image part is skipped.
    completion = [{"role": "assistant", "content": [
        {"type": "text", "text": "Here:"},
        {"type": "image_url", "image_url": {"url": "x"}},
        {"type": "text", "text": "<sql>SELECT 2</sql>"},
    ]}]
    assert completion_text(completion) == "Here:\n<sql>SELECT 2</sql>"
    assert extract_sql(completion).sql == "SELECT 2"


def test_in_a_multi_turn_completion_the_last_assistant_message_wins():
    # Assistant, tool, assistant: the answer is in the last assistant turn, not in the tool output.
    completion = [
        {"role": "assistant", "content": "<sql>SELECT 1</sql>"},
        {"role": "tool", "content": "<sql>SELECT 99</sql>"},
        {"role": "assistant", "content": "Fixed: <sql>SELECT 2</sql>"},
        {"role": "tool", "content": "2 rows"},
    ]
    assert extract_sql(completion) == Extraction("SELECT 2", "sql_tag", 1, None)


def test_messages_without_roles_are_concatenated():
    # No role keys: the contents are joined, so both blocks count.
    completion = [{"content": "<sql>SELECT 1</sql>"}, {"content": "<sql>SELECT 2</sql>"}]
    assert extract_sql(completion) == Extraction("SELECT 2", "sql_tag", 2, None)


def test_messages_with_roles_but_no_assistant_give_no_text():
    # Only a tool message: there is no assistant answer.
    assert completion_text([{"role": "tool", "content": "SELECT 1"}]) == ""


@pytest.mark.parametrize("bad", [42, None, 3.5, [1, 2], [{"role": "assistant", "content": 7}]])
def test_unsupported_completion_types_raise_type_error(bad):
    # An int (or None, a list of ints, a numeric content) is a caller's bug, not a model's output.
    with pytest.raises(TypeError, match="completion|content"):
        extract_sql(bad)
    with pytest.raises(TypeError):
        extract_answer(bad)
    with pytest.raises(TypeError):
        extract_script(bad)
    with pytest.raises(TypeError):
        extract_citations(bad)


def test_extraction_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        extract_sql("SELECT 1").sql = "SELECT 2"  # type: ignore[misc]


# --------------------------------------------------------------------------- extract_answer


def test_the_last_answer_tag_wins():
    # Two <answer> tags: the last one is the answer; both are counted.
    r = extract_answer("<answer>41</answer> wait, recount. <answer> 42 </answer>")
    assert r == Extraction("42", "answer_tag", 2, None)


def test_markdown_is_stripped_from_the_answer():
    # Bold markers, backticks and a bullet are markdown, not part of the answer.
    assert extract_answer("Counting...\n**42**").sql == "42"
    assert extract_answer("- **Final answer:** `Paris`").sql == "Paris"
    assert extract_answer("## Answer\n*The   Beatles*").sql == "The Beatles"
    # Underscores inside names are not italics.
    assert extract_answer("<answer>user_id</answer>").sql == "user_id"


def test_a_preamble_and_full_stop_are_dropped():
    # "The answer is 42." is the last non-empty line; its preamble and final period go.
    assert extract_answer("I counted the rows.\n\nThe answer is 42.\n") == Extraction("42", "trailing", 0, None)
    # Initialisms keep their dots; a decimal keeps its point.
    assert extract_answer("Answer: U.S.").sql == "U.S."
    assert extract_answer("The answer is 3.14.").sql == "3.14"


def test_an_empty_answer_is_an_error():
    # An empty tag: no answer, and the error says the tag is empty.
    assert extract_answer("<answer>  **  </answer>") == Extraction(None, "answer_tag", 1, "the <answer> tag is empty")
    # An empty completion: nothing at all.
    r = extract_answer("   \n\n")
    assert r.sql is None and r.source is None and r.error.startswith("no answer found")


def test_an_answer_inside_think_does_not_count():
    # The tag inside <think> is reasoning; the final line is the answer.
    assert extract_answer("<think><answer>1</answer></think>\nIt is 2").sql == "It is 2"


# --------------------------------------------------------------------------- extract_script


def test_a_script_is_every_statement_of_the_last_block():
    # Two statements in one fence: both, without their ';', joined with ";\n".
    r = extract_script("Repair:\n```sql\nUPDATE users SET email = LOWER(email);\n"
                       "DELETE FROM users WHERE id > 100;\n```\nDone.")
    assert r == Extraction("UPDATE users SET email = LOWER(email);\nDELETE FROM users WHERE id > 100", "fence", 1, None)
    # The last block wins, as for a query; blocks counts both.
    r = extract_script("<sql>DELETE FROM t</sql> no, better:\n```sql\nDELETE FROM t WHERE a < 0\n```")
    assert r == Extraction("DELETE FROM t WHERE a < 0", "fence", 2, None)
    # One statement is a script too.
    assert extract_script("<sql>UPDATE t SET a = 1;</sql>").sql == "UPDATE t SET a = 1"


def test_a_script_splits_where_sqlite_splits():
    # ';' inside a string literal does not end a statement (SQLite's own rule, which the grader uses).
    r = extract_script("```sql\nUPDATE t SET note = 'a; b' WHERE id = 1;\nDELETE FROM t WHERE note = ';'\n```")
    assert r.ok and r.sql == "UPDATE t SET note = 'a; b' WHERE id = 1;\nDELETE FROM t WHERE note = ';'"
    assert split_statements(r.sql) == ["UPDATE t SET note = 'a; b' WHERE id = 1;", "DELETE FROM t WHERE note = ';'"]
    # SQLite-specific writes parse with sqlglot's sqlite dialect.
    r = extract_script("```sql\nINSERT OR IGNORE INTO t (id) VALUES (1);\n"
                       "CREATE TABLE s AS SELECT a, COUNT(*) AS n FROM t GROUP BY a;\n```")
    assert r.ok and len(split_statements(r.sql)) == 2


def test_comments_in_a_script():
    # A comment-only piece is dropped; a statement ending in a line comment still ends where it should.
    r = extract_script("```sql\n-- fix the emails\nUPDATE t SET a = 1 -- all rows\n;\nDELETE FROM t;\n-- done\n```")
    assert r.ok
    assert r.sql == "-- fix the emails\nUPDATE t SET a = 1 -- all rows\n;\nDELETE FROM t"
    assert len(split_statements(r.sql)) == 2  # the comment does not swallow what follows


def test_a_script_statement_that_does_not_parse_is_named():
    # The second statement is misspelled: error names it; the script is still returned (the grader replays it,
    # and the broken statement fails and changes nothing).
    r = extract_script("```sql\nUPDATE t SET a = 1;\nUPDAT t SET b = 2;\nDELETE FROM t\n```")
    assert not r.ok and r.sql == "UPDATE t SET a = 1;\nUPDAT t SET b = 2;\nDELETE FROM t"
    assert r.error.startswith("the fenced block's statement 2 does not parse")


def test_script_errors():
    # No block at all: a bare statement is not a script (there is no trailing fallback for repairs).
    assert extract_script("UPDATE t SET a = 1;") == Extraction(None, None, 0, NO_SCRIPT)
    assert extract_script("```sql\n\n```") == Extraction(None, "fence", 1, "the fenced block is empty")
    assert extract_script("<sql>-- nothing</sql>") == Extraction(None, "sql_tag", 1, "the <sql> block holds no SQL statement")
    # A truncated block: what is there is returned, with the reason.
    r = extract_script("```sql\nUPDATE t SET a = 1;\nDELETE FROM t WHERE")
    assert r.sql == "UPDATE t SET a = 1;\nDELETE FROM t WHERE"
    assert "never closed" in r.error and "statement 2 does not parse" in r.error
    # A block inside <think> is reasoning.
    assert extract_script("<think>```sql\nDELETE FROM t\n```</think>I am not sure.").sql is None


# --------------------------------------------------------------------------- extract_citations


def test_citations_from_a_tag_or_a_final_line():
    # The tag: ids separated by commas, in order.
    answer = "<answer>42</answer>\n<citations>ecommerce-net-revenue, general-fiscal-calendar</citations>"
    assert extract_citations(answer) == ["ecommerce-net-revenue", "general-fiscal-calendar"]
    # A final "Citations:" line, with markdown, brackets, backticks and "and"; duplicates collapse.
    text = "The answer is 42.\n**Citations:** [ecommerce-net-revenue], `general-fiscal-calendar` and ecommerce-net-revenue"
    assert extract_citations(text) == ["ecommerce-net-revenue", "general-fiscal-calendar"]
    # The last tag wins over earlier tags and over lines.
    assert extract_citations("<citations>aaa-1</citations> Citations: bbb-2\n<citations>ccc-3</citations>") == ["ccc-3"]
    # Tokens that are not doc ids (too short, upper case, prose) are not citations; neither is "none".
    assert extract_citations("Citations: a, Net-Revenue, none, doc.with.dots, ok-id") == ["ok-id"]
    # Nothing cited, or citations only inside reasoning.
    assert extract_citations("<answer>42</answer>") == []
    assert extract_citations("<think><citations>aaa-1</citations></think><answer>1</answer>") == []
    # An unclosed tag (truncated) runs to the end.
    assert extract_citations("<answer>1</answer><citations>aaa-1, bbb-") == ["aaa-1", "bbb-"]


def test_citation_blocks_for_format_reward():
    assert citation_blocks("<citations>aaa-1</citations>") == ("citations_tag", 1, ["aaa-1"])
    assert citation_blocks("<citations>aaa-1</citations><citations>bbb-2</citations>") == ("citations_tag", 2, ["bbb-2"])
    assert citation_blocks("Citations: aaa-1") == ("citations_line", 0, ["aaa-1"])
    assert citation_blocks("nothing") == (None, 0, [])


def test_citations_are_never_part_of_the_answer():
    # A citations tag or line after, or inside, the answer is stripped from it.
    assert extract_answer("<answer>42</answer>\n<citations>aaa-1</citations>") == Extraction("42", "answer_tag", 1, None)
    assert extract_answer("<answer>42\nCitations: aaa-1, bbb-2</answer>").sql == "42"
    assert extract_answer("<answer>42 <citations>aaa-1</citations></answer>").sql == "42"
    # The trailing-line fallback skips a final citations line.
    assert extract_answer("I computed it.\nThe answer is 42.\nCitations: aaa-1") == Extraction("42", "trailing", 0, None)
    assert extract_answer("The answer is 42.\n<citations>aaa-1, bbb-2</citations>").sql == "42"
    # A sentence that mentions citations is not a citations line.
    assert extract_answer("<answer>citations are not needed</answer>").sql == "citations are not needed"


# --------------------------------------------------------------------------- fuzzing

_FRAGMENTS = [
    "SELECT", "select", "WITH", "with", "FROM", "t", "WHERE", "x", ">", "1", "(", ")", ",", ";", ".", "'",
    '"', "`", "```", "```sql", "```python", "<sql>", "</sql>", "<think>", "</think>", "<answer>",
    "</answer>", "\n", "\n\n", " ", "AS", "JOIN", "ON", "GROUP BY", "**", "-- c", "/*", "*/", "é", "\\",
    "UPDATE", "SET", "a = 1", "DELETE", "INSERT INTO", "VALUES", "CREATE TABLE", "<citations>", "</citations>",
    "Citations:", "aaa-1", "net-revenue", "and",
]


@st.composite
def _sqlish_text(draw) -> str:
    return " ".join(draw(st.lists(st.sampled_from(_FRAGMENTS), max_size=40)))


_FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(st.one_of(st.text(max_size=300), _sqlish_text()))
def test_extract_sql_never_raises(text):
    r = extract_sql(text)
    assert isinstance(r, Extraction)
    assert r.error is None or not r.error.startswith("internal error"), r.error
    assert r.source in (None, "sql_tag", "fence", "trailing")
    if r.sql is not None:
        assert r.sql == r.sql.strip() and not r.sql.endswith(";")
    if r.ok:  # rule 4: what is called well-formed parses as exactly one statement
        assert _one_statement(r.sql)
    if r.source in (None, "trailing"):
        assert r.blocks == 0


@_FUZZ
@given(st.one_of(st.text(max_size=300), _sqlish_text()))
def test_extract_answer_never_raises(text):
    r = extract_answer(text)
    assert r.error is None or not r.error.startswith("internal error"), r.error
    if r.sql is None:
        assert r.error is not None
    else:
        assert r.sql == " ".join(r.sql.split()) and (r.error is None or "never closed" in r.error)


@_FUZZ
@given(st.one_of(st.text(max_size=300), _sqlish_text()))
def test_extract_script_never_raises(text):
    r = extract_script(text)
    assert isinstance(r, Extraction)
    assert r.error is None or not r.error.startswith("internal error"), r.error
    assert r.source in (None, "sql_tag", "fence")
    if r.sql is None:
        assert r.error is not None
    else:
        assert r.sql == r.sql.strip() and not r.sql.endswith(";")
    if r.ok:  # every statement the grader splits the script into parses, and the script reads back as itself
        statements = split_statements(r.sql)
        assert statements and all(_one_statement(s) for s in statements)
        assert extract_script(f"```sql\n{r.sql}\n```") == Extraction(r.sql, "fence", 1, None)


@_FUZZ
@given(st.one_of(st.text(max_size=300), _sqlish_text()))
def test_extract_citations_never_raises(text):
    ids = extract_citations(text)
    assert all(DOC_ID.fullmatch(i) for i in ids)
    assert len(ids) == len(set(ids))
    source, _, cited = citation_blocks(text)
    assert cited == ids and source in (None, "citations_tag", "citations_line")
