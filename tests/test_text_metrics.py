"""Sample quality for text: gen PPL under a scorer with a known distribution, unigram entropy."""
import math

import pytest
import torch

from tasks.text import CharARConfig, CharARTransformer, generative_perplexity, unigram_entropy

CHARS = "abcd"


def constant_scorer(q: list[float]) -> CharARTransformer:
    """A scorer that ignores its context: next-character distribution q at every position."""
    model = CharARTransformer(CharARConfig(vocabulary=CHARS, max_length=8, d_model=8, n_layers=1,
                                           n_heads=2, d_ff=16))
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor(q).log())
    return model.eval()


def test_gen_ppl_of_a_known_distribution():
    q = [0.5, 0.25, 0.125, 0.125]
    model = constant_scorer(q)
    x = torch.tensor([[0, 0, 1, 3], [2, 2, 2, 2]])
    scored = torch.tensor([[True, True, True, True], [False, False, True, True]])
    ppl = generative_perplexity(model.nll(x), scored)
    # row 0: -(log .5 + log .5 + log .25 + log .125) / 4 = 7/4 log 2; row 1: log 8
    assert ppl.tolist() == pytest.approx([2 ** 1.75, 8.0], rel=1e-5)


def test_uniform_scorer_has_perplexity_of_the_vocabulary_size():
    ppl = generative_perplexity(constant_scorer([0.25] * 4).nll(torch.tensor([[3, 1, 0, 2, 2]])),
                                torch.ones(1, 5, dtype=torch.bool))
    assert ppl.item() == pytest.approx(4.0, rel=1e-5)


def test_unigram_entropy():
    x = torch.tensor([[1, 1, 1, 1], [0, 1, 0, 1], [0, 1, 2, 3], [0, 0, 2, 3]])
    scored = torch.ones_like(x, dtype=torch.bool)
    assert unigram_entropy(x, scored, 5).tolist() == pytest.approx([0.0, 1.0, 2.0, 1.5])
    # only the scored (generated) positions count: the prompt "2, 3" is left out
    assert unigram_entropy(x[3:], torch.tensor([[True, True, False, False]]), 5).item() == 0.0


def test_scorer_refuses_masks_and_another_vocabulary(tmp_path):
    model = constant_scorer([0.25] * 4)
    with pytest.raises(ValueError, match="character ids must be in \\[0, 4\\)"):
        model.nll(torch.tensor([[0, 4]]))
    model.save_pretrained(tmp_path / "ar")
    assert CharARTransformer.from_pretrained(tmp_path / "ar", vocabulary=CHARS).config.vocabulary == CHARS
    with pytest.raises(ValueError, match="another character vocabulary"):
        CharARTransformer.from_pretrained(tmp_path / "ar", vocabulary="abce")


def test_perplexity_is_causal():
    """Changing a later character never changes an earlier position's NLL."""
    torch.manual_seed(0)
    model = CharARTransformer(CharARConfig(vocabulary=CHARS, max_length=8, d_model=16, n_layers=2,
                                           n_heads=2, d_ff=32)).eval()
    a = torch.tensor([[0, 1, 2, 3, 0, 1]])
    b = a.clone()
    b[0, 4] = 3
    na, nb = model.nll(a), model.nll(b)
    assert torch.equal(na[:, :4], nb[:, :4]) and not torch.equal(na[:, 4:], nb[:, 4:])
    assert math.isfinite(float(na.detach().sum()))
