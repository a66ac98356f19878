# DataOps-Gym env server. Serves on port 7860 (Hugging Face Spaces' default) with a healthcheck.
# Build: docker build -t dataops-gym .   Run: docker run -p 7860:7860 dataops-gym
FROM python:3.11-slim

WORKDIR /app
COPY requirements-server.txt pyproject.toml README.md ./
# Only the server's runtime set (no torch/TRL); openenv goes in with --no-deps: see requirements-server.txt for why.
RUN pip install --no-cache-dir -r requirements-server.txt \
 && pip install --no-cache-dir --no-deps openenv==0.10.0
COPY env_server ./env_server
COPY data ./data
RUN pip install --no-cache-dir --no-deps .

ENV DATAOPS_DATA_DIR=/app/data
# Per-client quotas key clients by address: behind a Space's (or any remote) proxy every request comes from the
# proxy, so trust its X-Forwarded-For; a directly exposed container could be sent a forged one (the server-wide
# caps still hold). Set FORWARDED_ALLOW_IPS to the proxy's address where it is known.
ENV FORWARDED_ALLOW_IPS="*"
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:7860/health', timeout=4).status == 200 else 1)"
CMD ["python", "-m", "env_server", "serve", "--host", "0.0.0.0", "--port", "7860"]
