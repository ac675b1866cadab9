# Tapestry — the two commands: `make demo` and `make test`.
#
# Both install what is missing (Debian packages), then build. Release builds are compiled
# for this machine's CPU (-target-cpu native) with fused multiply-add in the Swift kernels.

SHELL        := /bin/bash
SWIFT        ?= swift
APT_PACKAGES := libopenblas-dev liblapacke-dev libpng-dev libturbojpeg0-dev
SUDO         := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
NATIVE       := -Xswiftc -target-cpu -Xswiftc native -Xswiftc -DTAPESTRY_FMA
RELEASE      := -c release $(NATIVE)
ZOO          := .build/release/zoo

# OpenBLAS chooses its kernels when the library loads: give it the AVX-512 ones where the
# CPU has them (some machines pin the slower Haswell kernels in the environment).
ifneq ($(shell grep -q avx512f /proc/cpuinfo 2>/dev/null && echo yes),)
export OPENBLAS_CORETYPE := SkylakeX
endif

.PHONY: demo test deps zoo bench convergence fuzz fuzz-replay docs clean

# The demo: the zoo's convergence story on a CPU. The shapes dataset with at most two
# objects per image (written to data/shapes-easy on first use); DEMO_MODEL — the zoo's
# fastest learner on a CPU, Deformable DETR — trained from scratch for DEMO_MINUTES with COCO
# AP before and after; that run beside the checkpoints shipped in checkpoints/ (DETR and
# Deformable DETR, the same settings trained for longer: checkpoints/README.md); and each
# model's predictions on eight validation images.
DEMO_MODEL   ?= deformable-detr
DEMO_MINUTES ?= 10
DEMO_DATA    := data/shapes-easy
SHIPPED      := checkpoints/detr-shapes.safetensors checkpoints/deformable-detr-shapes.safetensors
DEMO_IMAGES  := $(DEMO_DATA)/val/00000[0-7].png

demo: deps zoo
	$(ZOO) info
	@echo
	test -f $(DEMO_DATA)/annotations/val.json || $(ZOO) make-shapes --output $(DEMO_DATA) --max-objects 2
	rm -rf runs/demo
	$(ZOO) train $(DEMO_MODEL) --output runs/demo --max-minutes $(DEMO_MINUTES) --config checkpoints/$(DEMO_MODEL)-shapes.json --set eval_at_start=true
	@echo
	$(ZOO) eval runs/demo $(SHIPPED)
	@echo
	$(ZOO) predict --checkpoint runs/demo --output runs/demo/predictions --threshold 0.05 --top 4 --sheet demo-fresh-run.png $(DEMO_IMAGES)
	for model in detr deformable-detr; do \
		$(ZOO) predict --checkpoint checkpoints/$$model-shapes.safetensors --output runs/demo/predictions-$$model --threshold 0.05 --top 4 \
			--sheet demo-shipped-$$model.png $(DEMO_IMAGES) || exit 1; \
	done
	@echo
	@echo "Pictures: demo-fresh-run.png ($(DEMO_MODEL), this run), demo-shipped-detr.png and demo-shipped-deformable-detr.png (the shipped checkpoints)."
	@echo "Training curves: runs/demo/metrics.jsonl, or tensorboard --logdir runs/demo/tensorboard"

# Release builds: the suite runs several times faster than in debug, and the two runs cover
# both variants of the Swift kernels (fused multiply-add for this CPU, and plain x86-64).
test: deps
	@echo "== OpenBLAS backend (default trait), built for this CPU"
	$(SWIFT) test $(RELEASE) --skip SubnormalFlushing
	@echo "   flushing subnormals is process-wide: its tests run alone"
	$(SWIFT) test $(RELEASE) --filter SubnormalFlushing
	@echo "== Reference backend (--disable-default-traits), portable build"
	$(SWIFT) test -c release --disable-default-traits --scratch-path .build-reference --skip SubnormalFlushing
	$(SWIFT) test -c release --disable-default-traits --scratch-path .build-reference --filter SubnormalFlushing
	@echo "== The zoo command"
	$(SWIFT) build $(RELEASE) --product zoo
	Tests/cli/zoo-cli.sh $(ZOO)
	Tests/cli/zoo-reliability.sh $(ZOO)
	$(MAKE) fuzz-replay
	$(MAKE) fuzz FUZZ_SECONDS=10
	@echo "== Tutorials"
	$(SWIFT) run $(RELEASE) Tutorial01TapeAndGradcheck
	$(SWIFT) run $(RELEASE) Tutorial02NewAttentionLayer
	$(SWIFT) run $(RELEASE) Tutorial03TrainYourOwnModel
	$(SWIFT) run $(RELEASE) Tutorial04TrainAnyZooModel
	$(SWIFT) test --package-path Tutorials/05-gradcheck-tests-for-your-layer
	$(SWIFT) test --package-path Tutorials/06-backend-and-kernel
	$(SWIFT) test --package-path Tutorials/06-backend-and-kernel --disable-default-traits --scratch-path Tutorials/06-backend-and-kernel/.build-reference
	$(ZOO) parity Tutorials/07-reproduce-a-paper/detr-r18-aux.safetensors --quiet
	$(ZOO) parity Tutorials/07-reproduce-a-paper/detr-r18-aux.safetensors --quiet --dtype float32
	@echo "== API reference"
	$(MAKE) docs

# The API reference: a DocC archive per library in .build/plugins/Swift-DocC/outputs (each
# module's landing page is Sources/<module>/<module>.docc); any DocC warning fails the build.
DOC_TARGETS := Tapestry TapestryNN TorchCheckpoint Detection Classification Training Zoo Parity
docs: deps
	$(SWIFT) package generate-documentation $(addprefix --target ,$(DOC_TARGETS)) --warnings-as-errors

zoo: deps
	$(SWIFT) build $(RELEASE) --product zoo

bench: zoo
	$(ZOO) bench

# How fast a model learns on a CPU (shared/bench/CONVERGENCE.md): CONVERGENCE_MODEL trained
# from scratch on the default shapes set (data/shapes) in four segments of
# CONVERGENCE_SEGMENT (zoo train's --max-minutes 3, or --max-steps 378 to compare step for
# step), each resuming the last, with COCO AP on the validation images after each
# (evaluation is off the clock). CONVERGENCE_SET adds settings (--set k=v ...).
CONVERGENCE_MODEL   ?= deformable-detr
CONVERGENCE_SEGMENT ?= --max-minutes 3
CONVERGENCE_SET     ?=
CONVERGENCE_RUN     ?= runs/convergence-$(CONVERGENCE_MODEL)

convergence: zoo
	test -f data/shapes/annotations/val.json || $(ZOO) make-shapes --output data/shapes
	rm -rf $(CONVERGENCE_RUN)
	$(ZOO) train $(CONVERGENCE_MODEL) --output $(CONVERGENCE_RUN) $(CONVERGENCE_SEGMENT) --set eval_every=0 $(CONVERGENCE_SET)
	for segment in 2 3 4; do $(ZOO) train $(CONVERGENCE_MODEL) --output $(CONVERGENCE_RUN) $(CONVERGENCE_SEGMENT) --resume || exit 1; done

# Fuzzing the file readers (safetensors, checkpoints, COCO, settings, PNG/JPEG, CIFAR, PyTorch .pth) with the
# toolchain's libFuzzer and AddressSanitizer: FUZZ_SECONDS per reader, starting from
# Tests/fuzz/seeds/<reader> (the corpus grows in .build-fuzz/corpus). An input that traps,
# hangs or trips the sanitizer is written to Tests/fuzz/regressions/<reader>/ and the run
# fails; fix the reader and keep the file: fuzz-replay (in make test) runs every one.
FUZZ_SECONDS ?= 60
FUZZ_READERS := safetensors checkpoint coco settings image cifar pth
FUZZ         := .build-fuzz/release/ZooFuzz

fuzz: deps
	$(SWIFT) build -c release --product ZooFuzz --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
	@for reader in $(FUZZ_READERS); do \
		mkdir -p .build-fuzz/corpus/$$reader Tests/fuzz/regressions/$$reader; \
		echo "== fuzzing $$reader for $(FUZZ_SECONDS) s"; \
		SWIFT_BACKTRACE=enable=no TAPESTRY_FUZZ_TARGET=$$reader $(FUZZ) -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=4096 \
			-max_len=65536 -print_final_stats=1 -artifact_prefix=Tests/fuzz/regressions/$$reader/ \
			.build-fuzz/corpus/$$reader Tests/fuzz/seeds/$$reader 2>&1 | grep -E "^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)|cov:.*DONE" ; \
		test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

fuzz-replay:
	$(SWIFT) build $(RELEASE) --product ZooFuzz
	@for reader in $(FUZZ_READERS); do \
		files=$$(ls Tests/fuzz/regressions/$$reader/* Tests/fuzz/seeds/$$reader/* 2>/dev/null); \
		.build/release/ZooFuzz $$reader $$files > /dev/null || exit 1; \
		echo "replayed $$(echo $$files | wc -w) $$reader inputs"; \
	done

deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

clean:
	rm -rf .build .build-reference .build-fuzz runs/demo demo-*.png
