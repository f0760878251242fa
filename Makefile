# The course kit's two entry points: `make lab` (open the course) and `make test` (run every test and lab).
# Both create the virtual environment on first use and reinstall only when the dependency files change.
PYTHON ?= python3
VENV ?= .venv
# The data sets: $COURSE_DATA_DIR if set; else a course-data folder beside the repository (../shared/datasets),
# else datasets/ here (where `python -m course_lib fetch-data NAME` unpacks).
COURSE_DATA_DIR ?= $(if $(wildcard ../shared/datasets/hymenoptera),$(abspath ../shared/datasets),$(CURDIR)/datasets)
export COURSE_DATA_DIR
DEPS_HASH := $(shell cat pyproject.toml requirements/ci-constraints.txt | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(DEPS_HASH)
# glibc's default allocator page-faults on every large tensor on small CPU machines: about 3x slower inference.
RUN := MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 MPLBACKEND=Agg

.PHONY: env lab test browser doctor bench strip clean
env: $(STAMP)

$(STAMP): pyproject.toml requirements/ci-constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -c requirements/ci-constraints.txt -e '.[lab,dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# Learners work in my-labs/: the student copy of each lab (exercise stubs), written once and never overwritten.
# tools/lab_server.py writes them, then becomes `jupyter lab my-labs/00_setup.ipynb` (--allow-root as root, the
# allocator thresholds above set for its kernels); tests/test_lab_server.py runs this command in headless Chromium.
lab: $(STAMP)
	$(VENV)/bin/python -m tools.lab_server --workspace my-labs

# The browser tests (slides, book, make lab) use Debian's headless chromium: installed on first use (no-op if present).
browser:
	bash .ci/install-browser

# One torch thread in every lab, whatever the load: sums split across threads round differently, so numbers (and
# docs/CLAIMS.md's verdicts, which the tests compare) are the same bit for bit only at one thread count.
TEST_THREADS ?= 1
# Each lab runs twice: papermill executes it as it is (the instructor copy; tests assert its measured claims) and
# nbval executes the copy students get (exercise stubs), written fresh to build/student-ci/.
test: $(STAMP) browser
	rm -rf build/student-ci
	$(VENV)/bin/python -m tools.copies --workspace build/student-ci
	$(RUN) COURSE_THREADS=$(TEST_THREADS) $(VENV)/bin/python -m pytest tests build/student-ci --nbval-lax --durations=15

doctor: $(STAMP)
	$(RUN) $(VENV)/bin/python -m course_lib doctor

bench: $(STAMP)
	$(RUN) $(VENV)/bin/python benchmarks/run.py
	$(RUN) $(VENV)/bin/python benchmarks/bench_latency_vs_timm.py
	$(RUN) $(VENV)/bin/python benchmarks/lab_memory.py
	$(RUN) $(VENV)/bin/python benchmarks/busy_latency.py

strip: $(STAMP)
	$(VENV)/bin/nbstripout --keep-id notebooks/*.ipynb

clean:
	rm -rf build .pytest_cache

# Instructor material (docs/INSTRUCTOR_GUIDE.md): one offline reveal.js deck per lab in build/slides/ (run the labs
# first so their figures exist), and build/student/ + build/instructor/ copies of every lab. The build tools live in
# tools/ (run from this checkout, never installed with the kit); publishing a fork: python -m tools.publish --help.
.PHONY: slides copies book
slides: $(STAMP)
	$(RUN) $(VENV)/bin/python -m tools.slides

copies: $(STAMP)
	$(VENV)/bin/python -m tools.copies

# The executed labs (fast profile) as a static site with every figure, readable offline: build/book/index.html.
# Labs with an executed copy in build/executed/ newer than the lab are not run again.
book: $(STAMP)
	$(RUN) $(VENV)/bin/python -m tools.book
