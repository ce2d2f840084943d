# make run   : set up .venv and run the main job on the shipped defaults
# make test  : set up .venv (with the diffusers and torch-scatter extras) and run the tests
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check

.PHONY: setup scatter run test train-denoiser train-planner train-planner-fewstep train-planner-grpo train-planner-imitation train-planner-loarm compare-objectives bench-objectives compare-fewstep train-correctness compare-fewstep-correct train-planner-fewstep-correct compare-fewstep-vi-correct compare-fix-learned remask-signal train-text train-text-v2 train-genmd4 compare-genmd4 train-text-hf-alibi measure-text-v2 compare-text train-text-fewstep compare-text-fewstep bench clean

setup: $(VENV)/.installed

# torch first and pinned: it is the local CPU build; pyproject's range admits it, so the
# package install that follows pulls no other build.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test,diffusers]'
	touch $@

# torch-scatter has only a source release (about 6 minutes to build; pip caches the wheel)
scatter: $(VENV)/.scatter
$(VENV)/.scatter: $(VENV)/.installed
	$(PIP) install --no-build-isolation torch-scatter
	touch $@

run: setup
	$(PY) -m experiments.compare

test: setup scatter
	$(PY) -m pytest -q

train-denoiser: setup
	$(PY) -m experiments.train_denoiser task=sudoku export_to=weights/sudoku-mdm

train-planner: setup
	$(PY) -m experiments.train_planner planner=sudoku_factor train.threads=1 train.steps=100 export_to=weights/sudoku-planner

# the peers' objectives on the shipped planner's network (issue 17, docs/results/objectives.md):
# each on the VI planner's budget of denoiser calls (106,841, train.max_denoiser_calls in its
# train config), validating on rows outside the bar; no snapshot is selected (each ships its last step)
OBJ_TRAIN = $(PY) -m experiments.train_planner train.threads=1 val_path=runs/off_bar/rrn_style_valid_off_bar.csv
train-planner-grpo: setup
	$(PY) -m experiments.off_bar
	$(OBJ_TRAIN) train=planner_grpo planner=sudoku_factor hydra.run.dir=runs/train_planner/obj_grpo export_to=weights/sudoku-planner-grpo

train-planner-imitation: setup
	$(PY) -m experiments.off_bar
	$(OBJ_TRAIN) train=planner_imitation planner=sudoku_factor hydra.run.dir=runs/train_planner/obj_imitation export_to=weights/sudoku-planner-imitation

train-planner-loarm: setup
	$(PY) -m experiments.off_bar
	$(OBJ_TRAIN) train=planner_loarm planner=sudoku_factor_singleton hydra.run.dir=runs/train_planner/obj_loarm export_to=weights/sudoku-planner-loarm

# issue 17's figures: the bar's 2,000 puzzles with paired differences against the VI planner, at
# about 13 calls and at 4, 6 and 8 calls; the objectives' gradient variance and throughput
compare-objectives: setup
	$(PY) -m experiments.compare experiment=sudoku_objectives eval.threads=1 hydra.run.dir=runs/compare/sudoku_objectives/latest
	$(PY) -m experiments.compare experiment=sudoku_objectives_fewstep eval.threads=1 hydra.run.dir=runs/compare/sudoku_objectives_fewstep/latest

bench-objectives: setup
	$(PY) -m experiments.bench threads=1 'sections=[objectives]'

# the few-step planner (issue 14, docs/results/sudoku_fewstep.md): one beta-conditioned prior
# for the whole front, started as the factor rule with f moving with beta; the validation rows
# it reports on are outside the bar's 2,000 (experiments.off_bar). FEWSTEP_STEPS: the snapshot
# chosen on them.
FEWSTEP_STEPS ?= 50
train-planner-fewstep: setup
	$(PY) -m experiments.off_bar
	$(PY) -m experiments.train_planner planner=sudoku_fewstep train=planner_fewstep train.threads=1 train.steps=$(FEWSTEP_STEPS) val_path=runs/off_bar/rrn_style_valid_off_bar.csv hydra.run.dir=runs/train_planner/fewstep_$(FEWSTEP_STEPS) export_to=weights/sudoku-planner-fewstep

# issue 14's figures on the 2,000 bar puzzles: the few-step front with paired differences, the
# failures and within-step conflicts at few calls, and the posterior-to-prior gap
compare-fewstep: setup
	$(PY) -m experiments.off_bar --bar
	$(PY) -m experiments.compare experiment=sudoku_fewstep eval.threads=1 hydra.run.dir=runs/compare/sudoku_fewstep/latest
	$(PY) -m experiments.compare experiment=sudoku_fewstep_trace eval.threads=1 hydra.run.dir=runs/compare/sudoku_fewstep_trace/latest
	$(PY) -m experiments.oracle eval.threads=1 data.path=runs/off_bar/rrn_style_valid_bar.csv data.limit=500 'betas=[0.2,0.15,0.1,0.08]' heuristics=runs/compare/sudoku_fewstep/latest/results.json hydra.run.dir=runs/oracle/latest
	$(PY) -m experiments.failures --config-name failures_fewstep eval.threads=1 hydra.run.dir=runs/failures/fewstep_latest

# the correctness planner (issue 14, docs/results/sudoku_fewstep.md, "The correctness planner"):
# trained on validation rows outside the bar's 2,000 and the validation rows, about 10 minutes
# on one thread; then its front on the 2,000 bar puzzles beside every rule (about 50 minutes)
train-correctness: setup
	$(PY) -m experiments.train_correctness train.threads=1 hydra.run.dir=runs/train_correctness/shipped export_to=weights/sudoku-correctness

compare-fewstep-correct: setup
	$(PY) -m experiments.compare experiment=sudoku_fewstep_correct eval.threads=1 hydra.run.dir=runs/compare/sudoku_fewstep_correct/latest

# the VI planner on the correctness model's view (issue 14, docs/results/sudoku_fewstep.md):
# planner=sudoku_fewstep_correct, started as learned_correct, trained by the VI objective over beta
# (about 12 minutes on one thread; the step-FEWSTEP_CORRECT_STEPS snapshot, chosen on the
# validation rows outside the bar); then its bar and its trace by beta
FEWSTEP_CORRECT_STEPS ?= 25
train-planner-fewstep-correct: setup
	$(PY) -m experiments.off_bar
	$(PY) -m experiments.train_planner planner=sudoku_fewstep_correct train=planner_fewstep train.threads=1 train.steps=$(FEWSTEP_CORRECT_STEPS) val_path=runs/off_bar/rrn_style_valid_off_bar.csv hydra.run.dir=runs/train_planner/fewstep_correct_$(FEWSTEP_CORRECT_STEPS) export_to=weights/sudoku-planner-fewstep-correct

compare-fewstep-vi-correct: setup
	$(PY) -m experiments.off_bar --bar
	$(PY) -m experiments.compare experiment=sudoku_fewstep_vi_correct eval.threads=1 hydra.run.dir=runs/compare/sudoku_fewstep_vi_correct/latest
	$(PY) -m experiments.compare experiment=sudoku_fewstep_vi_correct_trace eval.threads=1 hydra.run.dir=runs/compare/sudoku_fewstep_vi_correct_trace/latest
	$(PY) -m experiments.oracle eval.threads=1 planner_path=weights/sudoku-planner-fewstep-correct data.path=runs/off_bar/rrn_style_valid_bar.csv data.limit=500 'betas=[0.13,0.1,0.065,0.04]' heuristics=runs/compare/sudoku_fewstep_vi_correct/latest/results.json hydra.run.dir=runs/oracle/fewstep_correct_latest

# issue 13 with learned unmasking (docs/results/sudoku_fix.md): self-verified restarts over the
# correctness planner (policy=learned_backtrack) on the 2,000 bar puzzles, beside the heuristic
# portfolio and the remasking rules at few calls (about 50 minutes on one thread)
compare-fix-learned: setup
	$(PY) -m experiments.compare experiment=sudoku_fix_learned eval.threads=1 hydra.run.dir=runs/compare/sudoku_fix_learned/latest

# issue 13 (docs/results/sudoku_fix.md): does the denoiser know which committed tokens are wrong,
# and what the remasking oracles reach (400 validation rows outside the bar)
remask-signal: setup
	$(PY) -m experiments.remask_signal eval.threads=1 hydra.run.dir=runs/remask_signal/latest

# the text planner's training (docs/results/text.md), for the MDM named after it
TEXT_PLANNER = $(PY) -m experiments.train_planner task=text planner=small val_path=validation train.givens_min=null train.givens_max=null train.steps=100 train.batch_size=8 train.val_limit=64 train.eval_every=50 train.threads=1

# the first text models (docs/results/text.md): the 0.83M MDM (denoiser=text_small), the
# autoregressive scorer, the first Hugging Face BERT, and the text planner on that MDM
train-text: setup
	$(PY) -m experiments.train_denoiser task=text denoiser=mdm_text_small train=text_denoiser_small train.threads=1 export_to=weights/text-mdm
	$(PY) -m experiments.train_ar train.threads=1 export_to=weights/text-ar
	$(PY) -m experiments.train_denoiser task=text denoiser=hf_bert_text_random train=text_hf_random train.threads=1 hydra.run.dir=runs/train_denoiser/text-hf export_to=weights/text-hf-mlm
	$(TEXT_PLANNER) denoiser=text_small export_to=weights/text-planner

# issue 18 (docs/results/text.md, "Denoisers that write"): the 3.2M rotary text MDM (denoiser=text)
# and the BERT with a sinusoidal start, each exported at its validation point of lowest val/loss
# (2 threads for the MDM, about an hour on an otherwise idle 2-core machine), then the text
# planner on the new MDM (about 45 minutes on one thread)
train-text-v2: setup
	$(PY) -m experiments.train_denoiser task=text denoiser=mdm_text train=text_denoiser hydra.run.dir=runs/train_denoiser/text-mdm-3m export_to=weights/text-mdm-3m
	$(PY) -m experiments.train_denoiser task=text denoiser=hf_bert_text train=text_hf hydra.run.dir=runs/train_denoiser/text-hf-sin export_to=weights/text-hf-mlm-sin
	$(TEXT_PLANNER) denoiser=text hydra.run.dir=runs/train_planner/text-3m export_to=weights/text-planner-3m

# the BERT at the text MDM's width with ALiBi's distance bias through its attention mask (issue 18,
# docs/results/text.md, "The ALiBi BERT"): 2,400 steps, two threads, float32 (74 minutes on
# this AVX2 CPU), exported at its lowest val/loss, then its random-order bound on validation
train-text-hf-alibi: setup
	$(PY) -m experiments.train_denoiser task=text denoiser=hf_bert_text_alibi train=text_hf_alibi hydra.run.dir=runs/train_denoiser/text-hf-alibi export_to=weights/text-hf-mlm-alibi
	$(PY) -m experiments.nll_bound denoiser=text_hf denoiser.path=weights/text-hf-mlm-alibi 'orders=[{policy: random_k, label: random_order, draws: 1}]' eval.threads=1 hydra.run.dir=runs/nll_bound/text-hf-mlm-alibi

# GenMD4 (docs/results/genmd4.md): a learned per-token-value schedule beside the plain MDM at
# equal compute (GenMD4 takes half the batch: two draws per sequence), on Sudoku (300-step
# fine-tunes of the shipped MDM) and on text (0.8M rotary models from scratch, 800 steps)
GENMD4_SUDOKU = $(PY) -m experiments.train_denoiser task=sudoku init_from=weights/sudoku-mdm train.steps=300 train.warmup=20 train.lr=3e-4 train.min_lr_ratio=1.0 train.eval_every=150 train.threads=1
GENMD4_TEXT = $(PY) -m experiments.train_denoiser task=text denoiser=mdm_text_small denoiser.positions=rotary train=text_denoiser train.steps=800 train.warmup=100 train.eval_every=200 train.threads=1 train.export=last
train-genmd4: setup
	$(GENMD4_SUDOKU) train.batch_size=64 hydra.run.dir=runs/train_denoiser/sudoku-ft-plain export_to=weights/sudoku-mdm-ft300
	$(GENMD4_SUDOKU) train.batch_size=32 objective=genmd4 denoiser.schedule=learned hydra.run.dir=runs/train_denoiser/sudoku-ft-genmd4 export_to=weights/sudoku-mdm-genmd4
	$(GENMD4_TEXT) train.batch_size=32 hydra.run.dir=runs/train_denoiser/text-small-plain export_to=weights/text-mdm-small-plain
	$(GENMD4_TEXT) train.batch_size=16 objective=genmd4 denoiser.schedule=learned hydra.run.dir=runs/train_denoiser/text-small-genmd4 export_to=weights/text-mdm-small-genmd4

compare-genmd4: setup
	$(PY) -m experiments.compare experiment=sudoku_genmd4 eval.threads=1 hydra.run.dir=runs/compare/sudoku_genmd4/latest
	$(PY) -m experiments.compare experiment=sudoku_genmd4_plain eval.threads=1 hydra.run.dir=runs/compare/sudoku_genmd4_plain/latest
	$(PY) -m experiments.genmd4_schedule path=weights/text-mdm-small-genmd4 task=text hydra.run.dir=runs/genmd4_schedule/text/latest
	$(PY) -m experiments.genmd4_schedule path=weights/sudoku-mdm-genmd4 task=sudoku hydra.run.dir=runs/genmd4_schedule/sudoku/latest
	$(PY) -m experiments.nll_bound denoiser.path=weights/text-mdm-small-genmd4 'orders=[{policy: random_k, label: random_order}]' eval.threads=1 hydra.run.dir=runs/nll_bound/genmd4/latest
	$(PY) -m experiments.nll_bound denoiser.path=weights/text-mdm-small-plain 'orders=[{policy: random_k, label: random_order}]' eval.threads=1 hydra.run.dir=runs/nll_bound/genmd4_plain/latest
	$(PY) -m experiments.compare experiment=text_genmd4 eval.threads=1 hydra.run.dir=runs/compare/text_genmd4/latest
	$(PY) -m experiments.compare experiment=text_genmd4_plain eval.threads=1 hydra.run.dir=runs/compare/text_genmd4_plain/latest

# issue 18's bar for the new text models: the bounds (random order) and one-per-step samples
measure-text-v2: setup
	$(PY) -m experiments.nll_bound denoiser.path=weights/text-mdm-3m 'orders=[{policy: random_k, label: random_order, draws: 1}, {policy: topk_margin, label: topk_margin}]' eval.threads=1 hydra.run.dir=runs/nll_bound/text-mdm-3m
	$(PY) -m experiments.compare experiment=text_mdm_3m eval.threads=1 hydra.run.dir=runs/compare/text_mdm_3m
	$(PY) -m experiments.nll_bound denoiser=text_hf denoiser.path=weights/text-hf-mlm-sin 'orders=[{policy: random_k, label: random_order, draws: 1}]' eval.threads=1 hydra.run.dir=runs/nll_bound/text-hf-mlm-sin

# issue 14 on text (docs/results/text.md, "Few calls"): the few-step text planner on the 3.2M MDM
# (one thread, 12 minutes beside other jobs), then its samples and its bound at 4-41 calls beside
# the rules' (the bound on validation and on test; nothing is selected on either)
train-text-fewstep: setup
	$(PY) -m experiments.train_planner task=text denoiser=text planner=text_fewstep train=planner_text_fewstep val_path=validation hydra.run.dir=runs/train_planner/text-fewstep-even export_to=weights/text-planner-fewstep

compare-text-fewstep: setup
	$(PY) -m experiments.compare experiment=text_fewstep eval.threads=1 hydra.run.dir=runs/compare/text_fewstep/latest
	$(PY) -m experiments.nll_bound --config-name nll_bound_fewstep eval.threads=1 hydra.run.dir=runs/nll_bound_fewstep/validation
	$(PY) -m experiments.nll_bound --config-name nll_bound_fewstep eval.threads=1 data.path=test hydra.run.dir=runs/nll_bound_fewstep/test

compare-text: setup
	$(PY) -m experiments.compare experiment=text_compare
	$(PY) -m experiments.compare experiment=text_continuation_compare
	$(PY) -m experiments.compare experiment=text_hf_compare
	$(PY) -m experiments.nll_bound

bench: setup
	$(PY) -m experiments.bench threads=1

clean:
	rm -rf $(VENV) runs outputs multirun
