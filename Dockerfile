# One image for the DealDesk API and worker: `dealdesk api` or `dealdesk worker`.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# WeasyPrint (PDF proposals and contracts) lays out with Pango and subsets fonts with HarfBuzz.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir "uv==0.13.8" \
    && uv pip install --system --no-cache -r requirements.lock
COPY dealdesk dealdesk
COPY pricing pricing
COPY policies policies
COPY workflows workflows
COPY activities activities
COPY store store
COPY api api
COPY templates templates
# Bytecode compiled here: the workflow sandbox re-imports the workflow module for every run.
RUN uv pip install --system --no-cache --no-deps --compile-bytecode . \
    && useradd --system --uid 10001 dealdesk
USER dealdesk
EXPOSE 8000
CMD ["dealdesk", "api"]
