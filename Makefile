# HandMotion: `make demo` and `make test` each create/refresh .venv and install everything pinned.
# The Blender extension: `make addon` builds and validates build/handmotion-<version>.zip; its tests run
# on the oldest and newest supported Blender (bpy wheels in .venv-bpy42 / .venv-bpy50, pinned in
# requirements-bpy.lock) against the engine in .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo
DEMO_BLENDER := bpy50

BPY_LOCK := requirements-bpy.lock
BLENDERS := bpy42 bpy50
ADDON_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' blender_manifest.toml)
ADDON_ZIP := build/handmotion-$(ADDON_VERSION).zip
ADDON_SRC := blender_manifest.toml $(wildcard handmotion_addon/*.py)
BLENDER_EXT = .venv-$(1)/lib/python*/site-packages/bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py

.PHONY: install demo test test-engine test-addon addon bench-addon clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check torch==2.13.0
	$(PIP) install --quiet --disable-pip-version-check -r requirements.lock
	$(PIP) install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -m pip check
	touch $(STAMP)

install: $(STAMP)

# The product demo: headless Blender installs the extension, builds a Rigify rig, starts the engine and
# generates, in-betweens and captions onto the rig; writes $(DEMO_OUT)/handmotion_demo.blend and a preview.
demo: $(STAMP) $(ADDON_ZIP)
	.venv-$(DEMO_BLENDER)/bin/python scripts/blender_demo.py --addon $(ADDON_ZIP) --engine $(VENV)/bin/handmotion \
		--out $(DEMO_OUT)

.venv-%/.installed: $(BPY_LOCK)
	test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
		$$(awk '!/^#/ && ($$1 == "$*" || $$1 == "both") {print $$2}' $(BPY_LOCK))
	.venv-$*/bin/python -m pip check
	touch $@

$(ADDON_ZIP): $(ADDON_SRC) pyproject.toml $(BLENDERS:%=.venv-%/.installed)
	@test "$(ADDON_VERSION)" = "$$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)" || \
		{ echo "blender_manifest.toml version $(ADDON_VERSION) differs from pyproject.toml"; exit 1; }
	rm -rf build/addon-src && mkdir -p build/addon-src
	cp blender_manifest.toml handmotion_addon/*.py build/addon-src/
	.venv-bpy50/bin/python $(call BLENDER_EXT,bpy50) build --source-dir build/addon-src --output-filepath $@
	for v in $(BLENDERS); do .venv-$$v/bin/python $$(echo $(call BLENDER_EXT,$$v)) validate $@ || exit 1; done

addon: $(ADDON_ZIP)

# How long writing 10,000 keys takes on each supported Blender (recorded in docs/benchmarks.md).
bench-addon: $(ADDON_ZIP)
	for v in $(BLENDERS); do .venv-$$v/bin/python scripts/bench_keys.py --addon $(ADDON_ZIP) || exit 1; done

test: test-engine test-addon

test-engine: $(STAMP)
	$(PY) -m pytest -q

test-addon: $(STAMP) $(ADDON_ZIP)
	for v in $(BLENDERS); do \
		HANDMOTION_ADDON_ZIP=$(ADDON_ZIP) HANDMOTION_ENGINE=$(VENV)/bin/handmotion OMP_NUM_THREADS=1 \
		.venv-$$v/bin/python -m pytest -q tests/addon || exit 1; done

clean:
	rm -rf $(VENV) $(BLENDERS:%=.venv-%) build .pytest_cache
