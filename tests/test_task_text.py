"""The text task: corpus splits, vocabulary, prompts, and refusing a model for other characters."""
import pytest
import torch

from denoiser import MDMConfig, MDMTransformer
from experiments.evaluation import frozen_for_task
from tasks.text import CharVocabulary, TextTask

CORPUS_CHARS = 1_115_394          # data/README.md: tiny-shakespeare, 65 distinct characters


@pytest.fixture(scope="module")
def task(data_dir):
    return TextTask(path="text/tinyshakespeare.txt")


def test_splits_are_90_5_5_by_position_and_disjoint(task):
    sizes = {k: len(v) for k, v in task.corpus.splits.items()}
    assert sum(sizes.values()) == CORPUS_CHARS
    assert sizes == {"train": int(CORPUS_CHARS * 0.9), "validation": int(CORPUS_CHARS * 0.05),
                     "test": CORPUS_CHARS - int(CORPUS_CHARS * 0.9) - int(CORPUS_CHARS * 0.05)}
    # by position: the splits, concatenated in order, are the corpus itself
    text = open(task.corpus.source, encoding="utf-8").read()
    joined = torch.cat([task.corpus.splits[k] for k in ("train", "validation", "test")])
    assert task.corpus.vocabulary.decode(joined) == text


def test_training_windows_come_from_the_training_split_only(task):
    g = torch.Generator().manual_seed(0)
    train = task.corpus.splits["train"]
    x = task.train_batch(64, g)
    assert x.shape == (64, 128) and x.dtype == torch.long
    # every window is a slice of the training split (found at some offset)
    text = task.corpus.vocabulary.decode(train)
    for row in x[:8]:
        assert task.render(row) in text


def test_vocabulary_is_sorted_characters_plus_mask_and_round_trips(task):
    assert task.vocabulary == "".join(sorted(set(open(task.corpus.source).read())))
    assert len(task.vocabulary) == 65 and task.vocab_size == 66 and task.mask_id == 65
    vocab = CharVocabulary(task.vocabulary)
    s = "First Citizen:\nBefore we proceed any further, hear me speak."
    assert vocab.decode(vocab.encode(s)) == s
    assert vocab.decode(torch.tensor([vocab.mask_id, vocab.index["a"]])) == "_a"
    with pytest.raises(ValueError, match="character '#' is not in the vocabulary"):
        vocab.encode("a#b")
    with pytest.raises(ValueError, match="distinct and sorted"):
        CharVocabulary("ba")


@pytest.mark.parametrize("prompt_chars", [0, 32])
def test_prompts_keep_their_first_characters(data_dir, prompt_chars):
    task = TextTask(prompt_chars=prompt_chars)
    data = task.load_eval("validation", limit=10)
    assert data.prompts.shape == (10, 128)
    assert torch.equal(data.prompts[:, :prompt_chars], data.references[:, :prompt_chars])
    assert (data.prompts[:, prompt_chars:] == task.mask_id).all()
    # the references are the split's consecutive windows
    val = task.corpus.splits["validation"]
    assert torch.equal(data.references[3], val[3 * 128:4 * 128])


def test_eval_splits_and_selection(task):
    first = task.load_eval("test", limit=5).references
    spread = task.load_eval("test", limit=5, select="spread").references
    windows = task.corpus.windows("test", 128)
    assert len(windows) == len(task.corpus.splits["test"]) // 128
    assert torch.equal(first, windows[:5]) and torch.equal(spread[-1], windows[-1])
    assert len(task.load_eval("validation", limit=None)) == len(task.corpus.splits["validation"]) // 128
    with pytest.raises(ValueError, match="one of \\('validation', 'test'\\), got 'train'"):
        task.load_eval("train", limit=5)


def test_planner_batch_generates_after_the_prompt(task):
    x, generate = task.planner_batch(4, torch.Generator().manual_seed(1), givens=32)
    assert x.shape == generate.shape == (4, 128)
    assert not generate[:, :32].any() and generate[:, 32:].all()
    with pytest.raises(ValueError, match="givens must be None or a prompt length"):
        task.planner_batch(4, torch.Generator(), givens=128)


def _tiny_mdm(vocabulary, vocab_size=66, mask_id=65):
    return MDMTransformer(MDMConfig(vocab_size=vocab_size, mask_id=mask_id, max_length=128,
                                    d_model=16, n_layers=1, n_heads=2, d_ff=32,
                                    vocabulary=vocabulary))


def test_a_denoiser_for_another_vocabulary_is_refused_by_name(task, tmp_path):
    other = "".join(sorted(set(task.vocabulary) - {"$"} | {"#"}))   # same size, other characters
    assert len(other) == len(task.vocabulary)
    _tiny_mdm(other).save_pretrained(tmp_path / "other")
    model = MDMTransformer.from_pretrained(tmp_path / "other")
    with pytest.raises(ValueError, match=r"another character vocabulary .*extra \['#'\], missing \['\$'\]"):
        frozen_for_task(model, task)
    with pytest.raises(ValueError, match="records no character vocabulary"):
        frozen_for_task(_tiny_mdm(None), task)
    frozen_for_task(_tiny_mdm(task.vocabulary), task)     # the right one is accepted


def test_bad_settings_are_refused(data_dir):
    with pytest.raises(ValueError, match="prompt_chars must be an integer in \\[0, 127\\]"):
        TextTask(prompt_chars=128)
    with pytest.raises(FileNotFoundError, match="no text corpus"):
        TextTask(path="text/missing.txt")
    with pytest.raises(ValueError, match="has no scorer"):
        t = TextTask(scorer=None)
        t.quality_metrics(t.load_eval("validation", 1).references, t.load_eval("validation", 1).prompts)
