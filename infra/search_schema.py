"""The search indices as Elasticsearch sees them: names, mappings, analyzers, and the
query bodies built from ``ports.search`` requests. Pure: no I/O.

Indices (``ROOST_ELASTICSEARCH_PREFIX`` before each name, so that several Roost
instances or test runs can share one cluster):

| alias | index | documents (``_id``) |
|---|---|---|
| ``roost-posts`` | ``roost-posts-v1`` | posts and post tombstones (post id) |
| ``roost-accounts`` | ``roost-accounts-v1`` | accounts (account id) |
| — | ``roost-search-state`` | the projector's position per generation (``v1``) |

Readers use the aliases; the projector writes the concrete indices of its
generation (``ROOST_SEARCH_INDEX_GENERATION``), so a new generation (another
mapping or analyzer) is built beside the old one and the aliases are switched
when it has caught up. Mappings are ``dynamic: strict``: a field the mapping
does not name is refused, never guessed. A field added to a mapping later, that
documents may lack (``ADDED_FIELDS``), is put into existing indices in place
(``PUT _mapping`` only adds), so it needs no new generation.

Suspension: a suspended account's document carries ``suspended: true`` and each
of its posts ``author_suspended: true``; both fields are present only while true
(a document that never was suspended has the shape it had before suspensions
existed), and every query leaves out the documents that have them.

Analysis (ICU is not available on the development server, so folding is done
by the standard filters):

* ``roost_folded``: the Unicode standard tokenizer (UAX #29 word boundaries:
  Latin, Cyrillic, Arabic, Hebrew and Indic words; CJK ideographs one by one),
  ``cjk_width`` (full-width Latin and half-width kana to their normal forms),
  ``lowercase``, ``decimal_digit`` (Arabic-Indic and other digits to 0-9),
  ``asciifolding`` (``café`` = ``cafe``). Language-neutral: every post gets it.
* ``roost_stemmed``: the same and a stemmer of ``ROOST_SEARCH_STEMMER``
  (default ``light_english``: plurals and common suffixes, conservative),
  on the ``text.stemmed`` sub-field. Posts carry no language, so one stemmer
  is chosen per deployment (``light_french``, ``light_german``,
  ``light_spanish``, ``russian``, ...); a word still matches unstemmed through
  ``text``. Changing it needs a new index generation.
* ``roost_prefix``: ``roost_folded`` plus edge n-grams (1-50) at index time,
  for username and display-name prefixes; queries use ``roost_folded``.
* ``roost_keyword`` normalizer (lowercase + ASCII folding) for usernames and
  mentions, so ``from:Alice`` finds ``alice``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from ports.search import AccountSearch, PostSearch

STEMMERS: Final = (
    "light_english", "english", "minimal_english", "porter2", "light_french", "french",
    "light_german", "german", "light_spanish", "spanish", "portuguese", "italian", "dutch",
    "swedish", "russian",
)
"""Stemmer languages checked against the development server and Elasticsearch 8."""
MAX_PREFIX: Final = 50


@dataclass(frozen=True, slots=True)
class SearchNames:
    """Index and alias names of one Roost instance (``prefix``) and index generation."""

    prefix: str = ""
    generation: int = 1

    @property
    def posts(self) -> str:
        return f"{self.prefix}roost-posts"

    @property
    def accounts(self) -> str:
        return f"{self.prefix}roost-accounts"

    @property
    def posts_index(self) -> str:
        return f"{self.posts}-v{self.generation}"

    @property
    def accounts_index(self) -> str:
        return f"{self.accounts}-v{self.generation}"

    @property
    def state_index(self) -> str:
        return f"{self.prefix}roost-search-state"

    @property
    def state_id(self) -> str:
        return f"v{self.generation}"


def analysis(stemmer: str) -> dict[str, Any]:
    """The ``analysis`` settings of both indices (see the module for the why)."""
    if stemmer not in STEMMERS:
        raise ValueError(f"unknown stemmer {stemmer!r}; one of {', '.join(STEMMERS)}")
    folding = ["cjk_width", "lowercase", "decimal_digit", "asciifolding"]
    return {
        "filter": {
            "roost_stemmer": {"type": "stemmer", "language": stemmer},
            "roost_edge": {"type": "edge_ngram", "min_gram": 1, "max_gram": MAX_PREFIX},
        },
        "normalizer": {
            "roost_keyword": {"type": "custom", "filter": ["lowercase", "asciifolding"]},
        },
        "analyzer": {
            "roost_folded": {"type": "custom", "tokenizer": "standard", "filter": folding},
            "roost_stemmed": {"type": "custom", "tokenizer": "standard",
                              "filter": [*folding, "roost_stemmer"]},
            "roost_prefix": {"type": "custom", "tokenizer": "standard",
                             "filter": [*folding, "roost_edge"]},
        },
    }


_FOLDED = {"type": "text", "analyzer": "roost_folded"}
_PREFIX = {"type": "text", "analyzer": "roost_prefix", "search_analyzer": "roost_folded"}
_KEYWORD = {"type": "keyword", "normalizer": "roost_keyword"}

POSTS_MAPPING: Final[dict[str, Any]] = {
    "dynamic": "strict",
    "properties": {
        "post_id": {"type": "long"},
        "author_id": {"type": "long"},
        "author_username": _KEYWORD,
        "author_display_name": _FOLDED,
        "author_position": {"type": "long"},
        "text": {**_FOLDED, "fields": {"stemmed": {"type": "text",
                                                   "analyzer": "roost_stemmed"}}},
        "hashtags": {"type": "keyword"},
        "mentions": _KEYWORD,
        "created_at": {"type": "date"},
        "created_ms": {"type": "long"},
        "deleted": {"type": "boolean"},
        "author_suspended": {"type": "boolean"},
    },
}
ACCOUNTS_MAPPING: Final[dict[str, Any]] = {
    "dynamic": "strict",
    "properties": {
        "account_id": {"type": "long"},
        "aggregate_id": {"type": "keyword"},
        "username": {**_KEYWORD, "fields": {"prefix": _PREFIX}},
        "display_name": {**_FOLDED, "fields": {"prefix": _PREFIX}},
        "followers_count": {"type": "long"},
        "profile_position": {"type": "long"},
        "created_at": {"type": "date"},
        "suspended": {"type": "boolean"},
    },
}
ADDED_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "posts": ("author_suspended",),
    "accounts": ("suspended",),
}
"""Fields added to the mappings after indices were made with them (put in place by
``PUT _mapping``; the documents written before have none)."""
STATE_MAPPING: Final[dict[str, Any]] = {
    "dynamic": "strict", "properties": {"position": {"type": "long"}},
}

RESOLUTION: Final = 1_000_000
"""Relevance scores are whole numbers up to 3 x RESOLUTION: exact in a float32."""
SCORE_SCRIPT: Final = (
    "Math.floor(_score * params.resolution * Math.pow(0.5, "
    "Math.abs(params.origin - doc['created_ms'].value) / params.half_life_ms))"
)
RENAME_SCRIPT: Final = (
    "ctx._source.author_display_name = params.name; "
    "ctx._source.author_position = params.position"
)
SUSPEND_SCRIPT: Final = (
    "if (params.suspended) { ctx._source.author_suspended = true } "
    "else { ctx._source.remove('author_suspended') } "
    "ctx._source.author_position = params.position"
)
"""``author_suspended`` is present only while true (see the module)."""
NOT_SUSPENDED: Final = {"bool": {"must_not": [{"term": {"author_suspended": True}}]}}
ACCOUNT_NOT_SUSPENDED: Final = {"bool": {"must_not": [{"term": {"suspended": True}}]}}


def _constant(query: dict[str, Any], boost: float = 1.0) -> dict[str, Any]:
    return {"constant_score": {"filter": query, "boost": boost}}


def _day(value: date) -> str:
    return f"{value.isoformat()}T00:00:00.000Z"


def post_filters(search: PostSearch) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(filter clauses, feature clauses that add to the score): user text only ever
    inside ``match`` / ``match_phrase`` / ``term`` values, never query syntax."""
    filters: list[dict[str, Any]] = [{"term": {"deleted": False}}, NOT_SUSPENDED]
    features: list[dict[str, Any]] = []
    if search.words:
        words = " ".join(search.words)
        filters.append({"bool": {"minimum_should_match": 1, "should": [
            {"match": {"text.stemmed": {"query": words, "operator": "and",
                                        "zero_terms_query": "all"}}},
            {"match": {"author_display_name": {"query": words, "operator": "and"}}},
        ]}})
        # Relevance features, each worth 1: every word as typed (not only its stem),
        # and the words side by side in the order typed.
        features.append(_constant({"match": {"text": {"query": words, "operator": "and"}}}))
        if len(search.words) > 1:
            features.append(_constant({"match_phrase": {"text": words}}))
    filters += [{"match_phrase": {"text": phrase}} for phrase in search.phrases]
    filters += [{"term": {"hashtags": tag}} for tag in search.tags]
    if search.authors:
        filters.append({"terms": {"author_username": sorted({a.lower()
                                                            for a in search.authors})}})
    dates: dict[str, str] = {}
    if search.on_or_after is not None:
        dates["gte"] = _day(search.on_or_after)
    if search.before is not None:
        dates["lt"] = _day(search.before)
    if dates:
        filters.append({"range": {"created_at": dates}})
    return filters, features


def post_request(search: PostSearch) -> dict[str, Any]:
    """``query`` and ``sort`` of a post search (``relevance`` or ``newest``).

    Relevance: a base of 1 plus 1 per feature (``post_filters``), halved for every
    ``half_life_days`` between the post's creation and ``origin_ms``, as a whole
    number (``SCORE_SCRIPT``: ``floor(features x RESOLUTION x 0.5^(age / half-life))``).
    The score depends only on the document and ``origin_ms`` (no corpus
    statistics), so a sort key keeps its place while the index changes; and being
    a whole number below 2^24 it is the same in float32 (what Elasticsearch sorts
    and returns) and float64 (what the development server sorts by), so
    ``search_after`` pages exactly on both. (A ``function_score`` decay gives
    scores that differ below float32 precision: the development server then
    repeats hits across pages.) Posts about 20 half-lives old score 0 and
    follow, newest first.
    """
    filters, features = post_filters(search)
    query: dict[str, Any] = {"bool": {
        "must": [_constant({"match_all": {}})], "filter": filters, "should": features,
    }}
    if search.hidden_authors:
        query["bool"]["must_not"] = [{"terms": {"author_id": sorted(search.hidden_authors)}}]
    if search.order == "newest":
        return {"query": query, "sort": [{"post_id": "desc"}]}
    return {
        "query": {"script_score": {"query": query, "script": {
            "source": SCORE_SCRIPT, "lang": "painless",
            "params": {"origin": search.origin_ms, "resolution": float(RESOLUTION),
                       "half_life_ms": search.half_life_days * 86_400_000.0}}}},
        "sort": [{"_score": "desc"}, {"post_id": "desc"}],
    }


def account_request(search: AccountSearch) -> dict[str, Any]:
    """``query`` and ``sort`` of an account search: prefixes match (score 0), the exact
    username scores 1; then followers, then id."""
    text = " ".join(word.removeprefix("@") for word in search.text.split())
    query: dict[str, Any] = {"bool": {
        "filter": [{"bool": {"minimum_should_match": 1, "should": [
            {"match": {"username.prefix": {"query": text, "operator": "and"}}},
            {"match": {"display_name.prefix": {"query": text, "operator": "and"}}},
        ]}}, ACCOUNT_NOT_SUSPENDED],
        "should": [_constant({"term": {"username": text.lower()}})],
    }}
    if search.hidden_accounts:
        query["bool"]["must_not"] = [{"terms": {"account_id": sorted(search.hidden_accounts)}}]
    return {"query": query, "sort": [{"_score": "desc"}, {"followers_count": "desc"},
                                     {"account_id": "asc"}]}
