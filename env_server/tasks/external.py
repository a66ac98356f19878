"""Grounded material from outside the project: the defog-data glossaries and the metrics they define.

Four defog-data databases (``broker``, ``car_dealership``, ``derm_treatment``, ``ewallet``; Apache-2.0,
read from ``data/external/defog-data`` and never copied here) ship a ``glossary`` of business
definitions in ``<db>/<db>.json``. :func:`glossary_docs` turns each glossary line into a
:class:`~env_server.tasks.grounding.Doc` with its provenance; :func:`external_metrics` turns the
metric definitions into :class:`~env_server.tasks.grounding.Metric` objects whose SQL runs on the
databases as :mod:`env_server.ingest.transpile` loads them into SQLite.

Each metric's ``naive_sql`` is the plausible misreading of someone who did not read the glossary
(ATP as the mean price, ATH as the best close, profit net of payments *received*, a case-sensitive
gateway filter, ...). Bindings follow the corpus convention: a value from the data comes as
``<name>`` (plain, for the question) and ``<name>_sql`` (a quoted SQLite literal, for the SQL); a
period comes as ``period`` (its name) with ``start`` and ``end`` (ISO dates, end exclusive), which the
templates quote themselves.

Every metric is a float, and its question states the precision that counts: "Answer with a number
rounded to 2 decimals." (4 for APM, a ratio from 0 to 1). The gold SQL is left unrounded; an answer
within half a unit of that last decimal of it is correct (``Metric.tolerance`` is that
:class:`~env_server.grading.answers.Precision`), so both the exact value and its rounding pass.

derm_treatment has documents but no metrics: its four glossary metrics (PASI75D30, mean change in
TEWL, proportion with improved itch, mean percent change in hair growth) are all defined against
``day0_*`` baseline columns that the published ``outcomes`` table does not have (it records days 7,
30 and 100 only), so no SQL can apply those definitions to its data.
"""
from __future__ import annotations

import json
import os
import random
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from env_server.grading.answers import Precision
from env_server.tasks.grounding import Doc, Metric

__all__ = [
    "DEFOG_DBS",
    "DEFOG_SOURCE",
    "ENV_VAR",
    "defog_dir",
    "domain_name",
    "external_metrics",
    "glossary_docs",
]

DEFOG_DBS: tuple[str, ...] = ("broker", "car_dealership", "derm_treatment", "ewallet")
"""The defog-data databases that come with a glossary."""
DEFOG_SOURCE = "defog-ai/defog-data@856295d8f0aa8a0b0fb71b9623e86f363469797a (Apache-2.0)"
ENV_VAR = "DATAOPS_EXTERNAL_DIR"
"""Names the external-data folder (the one holding ``defog-data/``) or ``defog-data`` itself."""

_REPO = Path(__file__).resolve().parents[2]
_CITE = "Use the definition in the documentation and cite it."
_DECIMALS = 2
"""The decimals a defog metric's question asks for (money, prices, volumes, ratios near 1), unless it says otherwise."""
_TITLE_CHARS = 60
_ISO_DATE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")


# --------------------------------------------------------------------------------------------------
# Where the data is
# --------------------------------------------------------------------------------------------------


def defog_dir() -> Path:
    """The ``defog-data`` folder: from ``$DATAOPS_EXTERNAL_DIR``, else ``<repo>/data/external/defog-data``
    (the copy committed with this repository).

    ``$DATAOPS_EXTERNAL_DIR`` may name the external-data folder (holding ``defog-data/``) or the
    ``defog-data`` folder itself. Raises ``FileNotFoundError`` saying where it looked.
    """
    configured = os.environ.get(ENV_VAR)
    candidates = (
        [Path(configured) / "defog-data", Path(configured)] if configured
        else [_REPO / "data" / "external" / "defog-data"]
    )
    for candidate in candidates:
        if (candidate / DEFOG_DBS[0] / f"{DEFOG_DBS[0]}.sql").is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"defog-data not found (looked in {looked}). It is committed at data/external/defog-data; "
        f"restore it, or set ${ENV_VAR} to the folder holding it"
    )


def domain_name(db: str) -> str:
    """The domain of a defog-data database in the corpus and in metrics: ``external-<db>``."""
    return f"external-{db}"


def _slug(db: str) -> str:
    """``db`` as it appears in document ids (``car_dealership`` -> ``car-dealership``)."""
    return db.replace("_", "-")


def _doc_id(db: str, number: int) -> str:
    """The id of the ``number``-th glossary document of ``db`` (1-based, file order)."""
    return f"{_slug(db)}-glossary-{number:02d}"


# --------------------------------------------------------------------------------------------------
# Glossary documents
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """One glossary entry: its bullet line (1-based line number in the glossary) and nested bullets."""

    line: int
    text: str
    children: tuple[str, ...] = ()


def glossary_docs(root: Path | None = None) -> list[Doc]:
    """One current document per glossary entry of the four databases, in file order.

    ``root`` is the ``defog-data`` folder (default :func:`defog_dir`). Empty lines and headings
    ("Additional outcomes documented:") are skipped; indented ``- `` lines belong to the bullet above.
    """
    root = root or defog_dir()
    docs: list[Doc] = []
    for db in DEFOG_DBS:
        for number, entry in enumerate(_entries(_glossary(root, db)), start=1):
            docs.append(_doc(db, number, entry))
    return docs


def _glossary(root: Path, db: str) -> str:
    """The ``glossary`` string of ``<root>/<db>/<db>.json``."""
    path = root / db / f"{db}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; {root} is not a defog-data checkout")
    glossary = json.loads(path.read_text(encoding="utf-8")).get("glossary")
    if not isinstance(glossary, str) or not glossary.strip():
        raise ValueError(f"{path} has no 'glossary' text")
    return glossary


def _entries(glossary: str) -> list[_Entry]:
    """The glossary's entries: top-level lines, each with the nested bullets under it."""
    entries: list[_Entry] = []
    open_entry = False
    for number, raw in enumerate(glossary.splitlines(), start=1):
        text = raw.strip()
        if not text:
            continue
        nested = raw[:1].isspace() and text.startswith("-")
        if nested and open_entry:
            last = entries[-1]
            entries[-1] = _Entry(last.line, last.text, (*last.children, _strip_bullet(text)))
            continue
        if not text.startswith("-") and text.endswith(":"):
            open_entry = False  # a heading: it defines nothing and owns nothing
            continue
        entries.append(_Entry(number, _strip_bullet(text)))
        open_entry = True
    return entries


def _strip_bullet(text: str) -> str:
    """A line without its ``- `` bullet and surrounding spaces."""
    return text[1:].strip() if text.startswith("-") else text.strip()


def _doc(db: str, number: int, entry: _Entry) -> Doc:
    """The document for one glossary entry."""
    body = entry.text + "".join(f"\n- {child}" for child in entry.children)
    definition = "=" in entry.text
    return Doc(
        doc_id=_doc_id(db, number),
        title=_title(entry.text, definition),
        domain=domain_name(db),
        kind="definition" if definition else "note",
        status="current",
        body=body,
        source=f"{DEFOG_SOURCE}, {db}/{db}.json glossary line {entry.line}",
    )


def _title(text: str, definition: bool) -> str:
    """A short title: the defined term ("ADV (Average Daily Volume)"), or the first words (at most
    eight, and 60 characters) of a note."""
    if definition:
        term = text.split("=", 1)[0].strip()
        if "(" in term and ")" in term[term.index("(") :]:
            return term[: term.index(")", term.index("(")) + 1].strip()
        return re.split(r"\s+for\s+", term, maxsplit=1)[0].strip()
    words = text.replace("`", "").rstrip(".:").split()
    kept = words[:8]
    while len(kept) > 1 and len(" ".join(kept)) > _TITLE_CHARS:
        kept.pop()
    return " ".join(kept) + (" ..." if len(kept) < len(words) else "")


# --------------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------------


def _sql_literal(value: str) -> str:
    """``value`` as a single-quoted SQLite string literal (quotes doubled, NUL refused)."""
    if "\x00" in value:
        raise ValueError("a SQL string literal cannot hold a NUL character")
    return "'" + value.replace("'", "''") + "'"


def _recase(value: str) -> str:
    """``value`` in another letter case (lower case, or upper case if it already is lower case)."""
    lowered = value.lower()
    return lowered if lowered != value else value.upper()


@dataclass(frozen=True)
class _Values:
    """Parameters ``{key, key_sql}``: each distinct text the query ``sql`` returns, in seeded order.

    With ``recase`` the value is shown in another letter case, for filters the glossary says to
    match case-insensitively.
    """

    key: str
    sql: str
    recase: bool = False

    def __call__(self, conn: sqlite3.Connection, rng: random.Random) -> list[dict[str, str]]:
        """Candidate bindings."""
        values = sorted({str(row[0]) for row in conn.execute(self.sql) if row[0] is not None and str(row[0]).strip()})
        if self.recase:
            values = [_recase(value) for value in values]
        rng.shuffle(values)
        return [{self.key: value, f"{self.key}_sql": _sql_literal(value)} for value in values]


@dataclass(frozen=True)
class _Periods:
    """Parameters ``{period, start, end}``: the months, quarters and years holding a date ``sql`` returns."""

    sql: str

    def __call__(self, conn: sqlite3.Connection, rng: random.Random) -> list[dict[str, str]]:
        """Candidate bindings."""
        days = {str(row[0])[:10] for row in conn.execute(self.sql) if row[0] is not None}
        periods: set[tuple[str, int, int]] = set()
        for day in days:
            if not _ISO_DATE.match(day):
                continue
            year, month = int(day[:4]), int(day[5:7])
            periods.update({("month", year, month), ("quarter", year, (month - 1) // 3 + 1), ("year", year, 0)})
        bindings = [_period(*period) for period in sorted(periods)]
        rng.shuffle(bindings)
        return bindings


def _period(kind: str, year: int, index: int) -> dict[str, str]:
    """The binding of one calendar month, quarter or year (``end`` is the first day after it)."""
    if kind == "year":
        return {"period": str(year), "start": f"{year}-01-01", "end": f"{year + 1}-01-01"}
    first = index if kind == "month" else 3 * index - 2
    last = index if kind == "month" else 3 * index
    after_year, after_month = (year + 1, 1) if last == 12 else (year, last + 1)
    name = (
        f"{_MONTH_NAMES[first - 1]} {year}" if kind == "month"
        else f"Q{index} {year} ({_MONTH_NAMES[first - 1]} to {_MONTH_NAMES[last - 1]})"
    )
    return {"period": name, "start": f"{year}-{first:02d}-01", "end": f"{after_year}-{after_month:02d}-01"}


def _window(column: str) -> str:
    """A template condition: ``column`` falls in the bound period."""
    return f"{column} >= '{{start}}' AND {column} < '{{end}}'"


# --------------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------------


def _metric(
    db: str,
    name: str,
    docs: tuple[int, ...],
    question: str,
    gold_sql: str,
    naive_sql: str,
    parameters: _Values | _Periods,
    decimals: int = _DECIMALS,
) -> Metric:
    """A float metric of ``db`` defined by its glossary documents number ``docs``.

    Its gold SQL is not rounded, so the question states the precision that counts ("Answer with a
    number rounded to 2 decimals."): an answer within half a unit of that decimal of the exact value
    is correct (:class:`~env_server.grading.answers.Precision`)."""
    precision = Precision(decimals)
    return Metric(
        metric_id=f"external-{_slug(db)}-{name}",
        domain=domain_name(db),
        doc_ids=tuple(_doc_id(db, number) for number in docs),
        question=f"{question} Answer with a number {precision.phrase}. {_CITE}",
        gold_sql=gold_sql,
        naive_sql=naive_sql,
        answer_type="float",
        tolerance=precision,
        parameters=parameters,
    )


_TICKERS_WITH_PRICES = _Values(
    "symbol",
    "SELECT t.sbTickerSymbol FROM sbTicker t WHERE EXISTS "
    "(SELECT 1 FROM sbDailyPrice dp WHERE dp.sbDpTickerId = t.sbTickerId)",
)
_BROKER_CUSTOMERS = _Values(
    "customer", "SELECT c.sbCustName FROM sbCustomer c JOIN sbTransaction tx ON tx.sbTxCustId = c.sbCustId"
)
_TX_BY_CUSTOMER = "FROM sbTransaction tx JOIN sbCustomer c ON c.sbCustId = tx.sbTxCustId WHERE c.sbCustName = {customer_sql}"

# broker glossary: 4 ADV, 5 ATH, 6 ATP, 7 NCT.
_BROKER: tuple[Metric, ...] = (
    _metric(
        "broker", "adv", (4,),
        "What is the ADV (average daily volume) of the ticker {symbol}?",
        "SELECT AVG(dp.sbDpVolume) FROM sbDailyPrice dp JOIN sbTicker t ON t.sbTickerId = dp.sbDpTickerId "
        "WHERE t.sbTickerSymbol = {symbol_sql}",
        # Misreading: "volume" as the shares this broker's clients traded per day.
        "SELECT AVG(daily) FROM (SELECT SUM(tx.sbTxShares) AS daily FROM sbTransaction tx "
        "JOIN sbTicker t ON t.sbTickerId = tx.sbTxTickerId WHERE t.sbTickerSymbol = {symbol_sql} "
        "GROUP BY substr(tx.sbTxDateTime, 1, 10))",
        _TICKERS_WITH_PRICES,
    ),
    _metric(
        "broker", "ath", (5,),
        "What is the ATH (all-time high) price of the ticker {symbol}?",
        "SELECT MAX(dp.sbDpHigh) FROM sbDailyPrice dp JOIN sbTicker t ON t.sbTickerId = dp.sbDpTickerId "
        "WHERE t.sbTickerSymbol = {symbol_sql}",
        # Misreading: the best closing price.
        "SELECT MAX(dp.sbDpClose) FROM sbDailyPrice dp JOIN sbTicker t ON t.sbTickerId = dp.sbDpTickerId "
        "WHERE t.sbTickerSymbol = {symbol_sql}",
        _TICKERS_WITH_PRICES,
    ),
    _metric(
        "broker", "atp", (6,),
        "What is the ATP (average transaction price) of customer {customer}?",
        f"SELECT SUM(tx.sbTxAmount) * 1.0 / SUM(tx.sbTxShares) {_TX_BY_CUSTOMER}",
        # Misreading: the unweighted mean of the per-share prices.
        f"SELECT AVG(tx.sbTxPrice) {_TX_BY_CUSTOMER}",
        _Values(
            "customer",
            "SELECT c.sbCustName FROM sbCustomer c JOIN sbTransaction tx ON tx.sbTxCustId = c.sbCustId "
            "GROUP BY c.sbCustId HAVING COUNT(*) >= 2",
        ),
    ),
    _metric(
        "broker", "nct-customer", (7,),
        "What is the NCT (net commission total) of the transactions of customer {customer}?",
        f"SELECT SUM(tx.sbTxCommission) {_TX_BY_CUSTOMER}",
        # Misreading: "net" as commission net of tax.
        f"SELECT SUM(tx.sbTxCommission - tx.sbTxTax) {_TX_BY_CUSTOMER}",
        _BROKER_CUSTOMERS,
    ),
    _metric(
        "broker", "nct-period", (7,),
        "What was the NCT (net commission total) of the transactions made in {period}?",
        f"SELECT SUM(sbTxCommission) FROM sbTransaction WHERE {_window('sbTxDateTime')}",
        f"SELECT SUM(sbTxCommission - sbTxTax) FROM sbTransaction WHERE {_window('sbTxDateTime')}",
        _Periods("SELECT sbTxDateTime FROM sbTransaction"),
    ),
)

_SALESPERSON = "sp.first_name || ' ' || sp.last_name"
_CAR_CUSTOMER = "cu.first_name || ' ' || cu.last_name"

# car_dealership glossary: 5 Total Sales, 6 Total Payments Received, 7 Total Payments Made, 8 Profit,
# 9 "use sales.sale_date, not sales.crtd_ts".
_CAR_DEALERSHIP: tuple[Metric, ...] = (
    _metric(
        "car_dealership", "total-sales-salesperson", (5,),
        "What are the Total Sales of salesperson {salesperson}?",
        f"SELECT SUM(s.sale_price) FROM sales s JOIN salespersons sp ON sp.id = s.salesperson_id "
        f"WHERE {_SALESPERSON} = {{salesperson_sql}}",
        # Misreading: sales as the money collected for them.
        f"SELECT SUM(pr.payment_amount) FROM payments_received pr JOIN sales s ON s.id = pr.sale_id "
        f"JOIN salespersons sp ON sp.id = s.salesperson_id WHERE {_SALESPERSON} = {{salesperson_sql}}",
        _Values("salesperson", f"SELECT {_SALESPERSON} FROM salespersons sp JOIN sales s ON s.salesperson_id = sp.id"),
    ),
    _metric(
        "car_dealership", "total-sales-period", (5, 9),
        "What were the Total Sales in {period}?",
        f"SELECT SUM(sale_price) FROM sales WHERE {_window('sale_date')}",
        # Misreading: dating a sale by its record's creation time.
        f"SELECT SUM(sale_price) FROM sales WHERE {_window('crtd_ts')}",
        _Periods("SELECT sale_date FROM sales"),
    ),
    _metric(
        "car_dealership", "payments-received-customer", (6,),
        "What are the Total Payments Received from customer {customer}?",
        f"SELECT SUM(pr.payment_amount) FROM payments_received pr JOIN sales s ON s.id = pr.sale_id "
        f"JOIN customers cu ON cu.id = s.customer_id WHERE {_CAR_CUSTOMER} = {{customer_sql}}",
        # Misreading: what the customer was charged rather than what was paid.
        f"SELECT SUM(s.sale_price) FROM sales s JOIN customers cu ON cu.id = s.customer_id "
        f"WHERE {_CAR_CUSTOMER} = {{customer_sql}}",
        _Values(
            "customer",
            f"SELECT {_CAR_CUSTOMER} FROM customers cu JOIN sales s ON s.customer_id = cu.id "
            "JOIN payments_received pr ON pr.sale_id = s.id",
        ),
    ),
    _metric(
        "car_dealership", "payments-made-period", (7,),
        "What were the Total Payments Made in {period}?",
        f"SELECT SUM(payment_amount) FROM payments_made WHERE {_window('payment_date')}",
        # Misreading: payments made *by customers*, i.e. the payments received.
        f"SELECT SUM(payment_amount) FROM payments_received WHERE {_window('payment_date')}",
        _Periods("SELECT payment_date FROM payments_made"),
    ),
    _metric(
        "car_dealership", "profit-period", (8,),
        "What was the Profit in {period}?",
        f"SELECT COALESCE((SELECT SUM(sale_price) FROM sales WHERE {_window('sale_date')}), 0) "
        f"- COALESCE((SELECT SUM(payment_amount) FROM payments_made WHERE {_window('payment_date')}), 0)",
        # Misreading: sales minus the payments received for them.
        f"SELECT COALESCE((SELECT SUM(sale_price) FROM sales WHERE {_window('sale_date')}), 0) "
        f"- COALESCE((SELECT SUM(payment_amount) FROM payments_received WHERE {_window('payment_date')}), 0)",
        _Periods("SELECT sale_date FROM sales UNION SELECT payment_date FROM payments_made"),
    ),
)

_RECEIVING_MERCHANTS = _Values(
    "merchant",
    "SELECT m.name FROM merchants m WHERE EXISTS (SELECT 1 FROM wallet_transactions_daily w "
    "WHERE w.receiver_type = 1 AND w.receiver_id = m.mid)",
)
_COUPON_ROWS = "FROM wallet_transactions_daily w JOIN coupons c ON c.cid = w.coupon_id"
_TX_PERIODS = _Periods("SELECT created_at FROM wallet_transactions_daily")

# ewallet glossary: 1 sender/receiver ids by type, 2 coupon rows, 3 case-insensitive code and gateway,
# 4 TTV, 5 TCDR, 6 Session Density, 7 APM.
_EWALLET: tuple[Metric, ...] = (
    _metric(
        "ewallet", "ttv-merchant", (4, 1),
        "What is the TTV (total transaction volume) received by merchant {merchant}?",
        "SELECT SUM(w.amount) FROM wallet_transactions_daily w JOIN merchants m ON m.mid = w.receiver_id "
        "WHERE w.receiver_type = 1 AND m.name = {merchant_sql}",
        # Misreading: receiver ids taken as merchant ids whatever their type, successful rows only.
        "SELECT SUM(w.amount) FROM wallet_transactions_daily w JOIN merchants m ON m.mid = w.receiver_id "
        "WHERE w.status = 'success' AND m.name = {merchant_sql}",
        _RECEIVING_MERCHANTS,
    ),
    _metric(
        "ewallet", "ttv-period", (4,),
        "What was the TTV (total transaction volume) of the wallet transactions created in {period}?",
        f"SELECT SUM(amount) FROM wallet_transactions_daily WHERE {_window('created_at')}",
        # Misreading: "volume" as the number of transactions.
        f"SELECT COUNT(*) FROM wallet_transactions_daily WHERE {_window('created_at')}",
        _TX_PERIODS,
    ),
    _metric(
        "ewallet", "ttv-gateway", (4, 3),
        "What is the TTV (total transaction volume) processed through the payment gateway {gateway}?",
        "SELECT SUM(amount) FROM wallet_transactions_daily WHERE LOWER(gateway_name) = LOWER({gateway_sql})",
        # Misreading: an exact, case-sensitive gateway match.
        "SELECT SUM(amount) FROM wallet_transactions_daily WHERE gateway_name = {gateway_sql}",
        _Values("gateway", "SELECT gateway_name FROM wallet_transactions_daily", recase=True),
    ),
    _metric(
        "ewallet", "tcdr-merchant", (5,),
        "What is the TCDR (total coupon discount redeemed) on the coupons of merchant {merchant}?",
        f"SELECT SUM(w.amount) {_COUPON_ROWS} JOIN merchants m ON m.mid = c.merchant_id WHERE m.name = {{merchant_sql}}",
        # Misreading: the coupons' nominal discount values rather than the amounts applied.
        f"SELECT SUM(c.discount_value) {_COUPON_ROWS} JOIN merchants m ON m.mid = c.merchant_id "
        f"WHERE m.name = {{merchant_sql}}",
        _Values("merchant", f"SELECT m.name {_COUPON_ROWS} JOIN merchants m ON m.mid = c.merchant_id"),
    ),
    _metric(
        "ewallet", "tcdr-period", (5,),
        "What was the TCDR (total coupon discount redeemed) in wallet transactions created in {period}?",
        f"SELECT SUM(w.amount) {_COUPON_ROWS} WHERE {_window('w.created_at')}",
        f"SELECT SUM(c.discount_value) {_COUPON_ROWS} WHERE {_window('w.created_at')}",
        _Periods("SELECT created_at FROM wallet_transactions_daily WHERE coupon_id IS NOT NULL"),
    ),
    _metric(
        "ewallet", "tcdr-code", (5, 3),
        "What is the TCDR (total coupon discount redeemed) for the coupon code {code}?",
        f"SELECT SUM(w.amount) {_COUPON_ROWS} WHERE LOWER(c.code) = LOWER({{code_sql}})",
        # Misreading: an exact, case-sensitive code match.
        f"SELECT SUM(w.amount) {_COUPON_ROWS} WHERE c.code = {{code_sql}}",
        _Values("code", f"SELECT c.code {_COUPON_ROWS}", recase=True),
    ),
    _metric(
        "ewallet", "session-density-period", (6,),
        "What was the Session Density of the user sessions that started in {period}?",
        "SELECT CAST(COUNT(user_id) AS REAL) / COUNT(DISTINCT user_id) FROM user_sessions "
        f"WHERE {_window('session_start_ts')}",
        # Misreading: sessions per registered user.
        "SELECT CAST(COUNT(*) AS REAL) / (SELECT COUNT(*) FROM users) FROM user_sessions "
        f"WHERE {_window('session_start_ts')}",
        _Periods("SELECT session_start_ts FROM user_sessions"),
    ),
    _metric(
        "ewallet", "session-density-device", (6,),
        "What is the Session Density of the user sessions on device type {device}?",
        "SELECT CAST(COUNT(user_id) AS REAL) / COUNT(DISTINCT user_id) FROM user_sessions "
        "WHERE device_type = {device_sql}",
        "SELECT CAST(COUNT(*) AS REAL) / (SELECT COUNT(*) FROM users) FROM user_sessions "
        "WHERE device_type = {device_sql}",
        _Values("device", "SELECT device_type FROM user_sessions"),
    ),
    _metric(
        "ewallet", "apm-period", (7,),
        "What was the APM (active merchants percentage) for the wallet transactions created in {period}?",
        "SELECT CAST(COUNT(DISTINCT CASE WHEN sender_type = 1 THEN sender_id WHEN receiver_type = 1 "
        "THEN receiver_id ELSE NULL END) AS REAL) / (SELECT COUNT(DISTINCT mid) FROM merchants) "
        f"FROM wallet_transactions_daily WHERE {_window('created_at')}",
        # Misreading: the share of merchants whose status is 'active'.
        "SELECT CAST(SUM(status = 'active') AS REAL) / COUNT(*) FROM merchants",
        _TX_PERIODS,
        decimals=4,  # the glossary's ratio is a fraction from 0 to 1 (no factor 100): 2 decimals would be coarse
    ),
)


def external_metrics() -> list[Metric]:
    """The grounded metrics of the defog-data databases (none for derm_treatment: see the module doc)."""
    return [*_BROKER, *_CAR_DEALERSHIP, *_EWALLET]
