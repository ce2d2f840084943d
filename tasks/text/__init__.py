"""Character-level text (tiny-shakespeare): corpus splits, vocabulary, the task class, the
autoregressive scorer and the sample-quality metrics."""
from .ar_model import CharARConfig, CharARTransformer
from .corpus import Corpus
from .metrics import generative_perplexity, unigram_entropy
from .task import TextTask
from .vocabulary import CharVocabulary, check_vocabulary

__all__ = ["CharARConfig", "CharARTransformer", "Corpus", "generative_perplexity",
           "unigram_entropy", "TextTask", "CharVocabulary", "check_vocabulary"]
