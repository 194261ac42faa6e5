# Top-level wrapper around Meson + Ninja.
BUILD ?= build

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD)

check:
	bash tests/run.sh

demo:
	bash scripts/demo.sh

bench: all
	bash bench/run.sh

install: all
	meson install -C $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)

.PHONY: all check demo bench install format clean
