# Tapestry — the two commands: `make demo` and `make test`.
#
# Both install what is missing (Debian packages), then build. Release builds are compiled
# for this machine's CPU (-target-cpu native) with fused multiply-add in the Swift kernels.

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
# Idle OpenBLAS threads stop spinning at once, so they never compete with Tapestry's own.
export OPENBLAS_THREAD_TIMEOUT ?= 4

.PHONY: demo test deps zoo bench convergence clean

# The demo: the shapes dataset with at most two objects per image (written to
# data/shapes-easy on first use), a fresh DETR trained on it for DEMO_MINUTES, then COCO AP
# of the untrained model, the fresh run and the checkpoint shipped in checkpoints/ (the
# same settings trained for longer: checkpoints/README.md), and pictures of their
# predictions on eight validation images.
DEMO_MINUTES ?= 10
SHIPPED      := checkpoints/detr-shapes.safetensors
DEMO_DATA    := data/shapes-easy

demo: deps zoo
	$(ZOO) info
	@echo
	test -f $(DEMO_DATA)/annotations/val.json || $(ZOO) make-shapes --output $(DEMO_DATA) --max-objects 2
	rm -rf runs/demo
	$(ZOO) train detr --output runs/demo --max-minutes $(DEMO_MINUTES) --config checkpoints/detr-shapes.json --set eval_at_start=true
	@echo
	$(ZOO) eval runs/demo $(SHIPPED)
	@echo
	$(ZOO) predict --checkpoint runs/demo --output runs/demo/predictions --threshold 0.05 --top 4 --sheet demo-fresh-run.png $(DEMO_DATA)/val/00000[0-7].png
	$(ZOO) predict --checkpoint $(SHIPPED) --output runs/demo/predictions-shipped --threshold 0.05 --top 4 --sheet demo-shipped-checkpoint.png $(DEMO_DATA)/val/00000[0-7].png
	@echo
	@echo "Pictures: demo-fresh-run.png (this run) and demo-shipped-checkpoint.png (the shipped checkpoint)."
	@echo "Training curves: runs/demo/metrics.jsonl, or tensorboard --logdir runs/demo/tensorboard"

# Release builds: the suite runs several times faster than in debug, and the two runs cover
# both variants of the Swift kernels (fused multiply-add for this CPU, and plain x86-64).
test: deps
	@echo "== OpenBLAS backend (default trait), built for this CPU"
	OPENBLAS_NUM_THREADS=1 $(SWIFT) test $(RELEASE)
	@echo "== Reference backend (--disable-default-traits), portable build"
	$(SWIFT) test -c release --disable-default-traits --scratch-path .build-reference
	@echo "== The zoo command"
	$(SWIFT) build $(RELEASE) --product zoo
	Tests/cli/zoo-cli.sh $(ZOO)
	@echo "== Tutorials"
	$(SWIFT) run $(RELEASE) Tutorial01TapeAndGradcheck
	$(SWIFT) run $(RELEASE) Tutorial02NewAttentionLayer
	$(SWIFT) run $(RELEASE) Tutorial03TrainYourOwnModel

zoo: deps
	$(SWIFT) build $(RELEASE) --product zoo

bench: zoo
	$(ZOO) bench

# How fast a model learns on a CPU (shared/bench/CONVERGENCE.md): CONVERGENCE_MODEL trained
# from scratch on the default shapes set (data/shapes) for four segments of
# CONVERGENCE_MINUTES, each resuming the last, with COCO AP on the validation images after
# each (evaluation is off the clock). CONVERGENCE_SET adds settings (--set k=v ...).
CONVERGENCE_MODEL   ?= deformable-detr
CONVERGENCE_MINUTES ?= 3
CONVERGENCE_SET     ?=
CONVERGENCE_RUN     ?= runs/convergence-$(CONVERGENCE_MODEL)

convergence: zoo
	test -f data/shapes/annotations/val.json || $(ZOO) make-shapes --output data/shapes
	rm -rf $(CONVERGENCE_RUN)
	$(ZOO) train $(CONVERGENCE_MODEL) --output $(CONVERGENCE_RUN) --max-minutes $(CONVERGENCE_MINUTES) --set eval_every=0 $(CONVERGENCE_SET)
	for segment in 2 3 4; do $(ZOO) train $(CONVERGENCE_MODEL) --output $(CONVERGENCE_RUN) --max-minutes $(CONVERGENCE_MINUTES) --resume || exit 1; done

deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

clean:
	rm -rf .build .build-reference runs/demo demo-*.png
