# The two commands a newcomer needs: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
UV_VERSION := 0.13.8

.PHONY: system-deps install run test lint typecheck unit lock bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the lock or the project metadata changes; uv installs in seconds.
$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# WeasyPrint lays out PDFs with Pango and subsets fonts with HarfBuzz; Debian ships them (and
# a font) as system packages, which the PDF tests need. The browser tests drive Debian's
# chromium (Playwright's own browser download is never used). As root (CI, containers) the
# missing ones are installed; otherwise PDF packages are required and chromium is optional.
PDF_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
BROWSER_PACKAGES := chromium chromium-driver
CHROMIUM := /usr/bin/chromium
system-deps:
	@pdf_ok=1; ldconfig -p | grep -q 'libpangoft2-1.0.so.0' && ldconfig -p | grep -q 'libharfbuzz-subset.so.0' \
	    && fc-list 2>/dev/null | grep -q . || pdf_ok=0; \
	if [ $$pdf_ok = 1 ] && [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "Installing $(PDF_PACKAGES) $(BROWSER_PACKAGES) for PDF rendering and browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PDF_PACKAGES) $(BROWSER_PACKAGES); \
	elif [ $$pdf_ok = 0 ]; then \
	  echo "PDF rendering needs: sudo apt-get install $(PDF_PACKAGES) $(BROWSER_PACKAGES)"; exit 1; \
	else \
	  echo "NOTE: $(CHROMIUM) is missing, so the browser tests will be skipped (sudo apt-get install $(BROWSER_PACKAGES))"; \
	fi

install: $(STAMP) system-deps

run: install
	$(BIN)/dealdesk up

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy .

# Without chromium (and not in CI, which installs it and sets DEALDESK_REQUIRE_BROWSER) the
# browser tests are deselected, and the run says so at its end.
unit: install
	@if [ -x $(CHROMIUM) ] || [ -n "$$DEALDESK_REQUIRE_BROWSER" ]; then $(BIN)/pytest; else \
	  $(BIN)/pytest -m "not browser" \
	  && echo "NOTE: the browser tests were skipped: $(CHROMIUM) is missing (sudo apt-get install $(BROWSER_PACKAGES))"; \
	fi

test: lint typecheck unit

# Regenerate the pinned dependency set after editing pyproject.toml.
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip compile --quiet --python $(BIN)/python pyproject.toml --extra dev -o requirements.lock

bench: install
	$(BIN)/python bench/pricing.py
	$(BIN)/python bench/policies.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
