"""Per-task instructions of the E5-mistral evaluation, verbatim from `microsoft/unilm/e5/utils.py`
(`get_task_def_by_task_name_and_type`; identical to Wang et al., 2024, Table 15).

The model sees `'Instruct: ' + instruction + '\\nQuery: ' + text` (unilm's `get_detailed_instruct`, Wang et al.,
2024, §3). Punctuation matters: only the STS, BitextMining and Ocnli/Cmnli instructions end with a period.

`sentence_transformer_prompts` writes the same table as SentenceTransformer prompts, keyed the way mteb looks them up
(`<Task>-query`, `<Task>`, `<TaskType>`, `query`/`document`), so that plain `mteb` on the saved folder applies the
instruction where the E5 protocol does: on Retrieval queries only, on every input of every other task type. Prompts
cannot switch off the L2 normalization for Classification (the official evaluation does), cap the length at 512
tokens, or turn on `doc_as_query`: that needs synthembed's encoder (encoder.py, scripts/evaluate.py).
"""

from __future__ import annotations

# One instruction per type for every STS task (multilingual and cross-lingual ones too: STS17, STS22,
# STSBenchmarkMultilingualSTS; the paper uses it on their English subsets only) and every BitextMining task (the paper's
# BUCC and Tatoeba, Table 4; NTREX, Flores, ... get the same: the paper has none of its own for them).
STS_INSTRUCTION = "Retrieve semantically similar text."
SUMMARIZATION_INSTRUCTION = "Given a news summary, retrieve other semantically similar summaries"
BITEXT_INSTRUCTION = "Retrieve parallel sentences."
# The 12 sub-forums MTEB(eng, v1) runs as separate tasks and averages into CQADupstackRetrieval.
CQADUPSTACK_FORUMS = (
    "Android English Gaming Gis Mathematica Physics Programmers Stats Tex Unix Webmasters Wordpress".split()
)
CQADUPSTACK_INSTRUCTION = "Given a question, retrieve detailed question descriptions from Stackexchange that are duplicates to the given question"
# MIRACL (Wang et al., 2024, §4.4, Table 6; unilm's `miracl` key). mteb 2.26 names its tasks MIRACLRetrieval,
# MIRACLRetrievalHardNegatives(.v2), MIRACLJaRetrievalLite and MIRACLReranking: every text task whose name starts
# with MIRACL gets it (MIRACLVisionRetrieval is a document-image task, not a text one).
MIRACL_INSTRUCTION = "Given a question, retrieve Wikipedia passages that answer the question"
MIRACL_TASKS = ("MIRACLRetrieval", "MIRACLRetrievalHardNegatives", "MIRACLJaRetrievalLite", "MIRACLReranking")
# XQuAD-style retrieval (a question, the Wikipedia paragraphs of SQuAD-format extractive QA, in many languages): the
# paper evaluates none of these tasks and so has no evaluation instruction for them; Table 14's training instruction
# for SQuAD, whose translation XQuAD is (MLQA has its format), is the closest it has.
SQUAD_INSTRUCTION = "Retrieve Wikipedia passages that answer the question"
SQUAD_STYLE_TASKS = ("XQuADRetrieval", "MLQARetrieval")

CLASSIFICATION = {
    # MTEB(eng, v1)
    "AmazonCounterfactualClassification": "Classify a given Amazon customer review text as either counterfactual or not-counterfactual",
    "AmazonPolarityClassification": "Classify Amazon reviews into positive or negative sentiment",
    "AmazonReviewsClassification": "Classify the given Amazon review into its appropriate rating category",
    "Banking77Classification": "Given a online banking query, find the corresponding intents",
    "EmotionClassification": "Classify the emotion expressed in the given Twitter message into one of the six emotions: anger, fear, joy, love, sadness, and surprise",
    "ImdbClassification": "Classify the sentiment expressed in the given movie review text from the IMDB dataset",
    "MassiveIntentClassification": "Given a user utterance as query, find the user intents",
    "MassiveScenarioClassification": "Given a user utterance as query, find the user scenarios",
    "MTOPDomainClassification": "Classify the intent domain of the given utterance in task-oriented conversation",
    "MTOPIntentClassification": "Classify the intent of the given utterance in task-oriented conversation",
    "ToxicConversationsClassification": "Classify the given comments as either toxic or not toxic",
    "TweetSentimentExtractionClassification": "Classify the sentiment of a given tweet as either positive, negative, or neutral",
    # C-MTEB
    "TNews": "Classify the fine-grained category of the given news title",
    "IFlyTek": "Given an App description text, find the appropriate fine-grained category",
    "MultilingualSentiment": "Classify sentiment of the customer review into positive, neutral, or negative",
    "JDReview": "Classify the customer review for iPhone on e-commerce platform into positive or negative",
    "OnlineShopping": "Classify the customer review for online shopping into positive or negative",
    "Waimai": "Classify the customer review from a food takeaway platform into positive or negative",
}

CLUSTERING = {
    "ArxivClusteringP2P": "Identify the main and secondary category of Arxiv papers based on the titles and abstracts",
    "ArxivClusteringS2S": "Identify the main and secondary category of Arxiv papers based on the titles",
    "BiorxivClusteringP2P": "Identify the main category of Biorxiv papers based on the titles and abstracts",
    "BiorxivClusteringS2S": "Identify the main category of Biorxiv papers based on the titles",
    "MedrxivClusteringP2P": "Identify the main category of Medrxiv papers based on the titles and abstracts",
    "MedrxivClusteringS2S": "Identify the main category of Medrxiv papers based on the titles",
    "RedditClustering": "Identify the topic or theme of Reddit posts based on the titles",
    "RedditClusteringP2P": "Identify the topic or theme of Reddit posts based on the titles and posts",
    "StackExchangeClustering": "Identify the topic or theme of StackExchange posts based on the titles",
    "StackExchangeClusteringP2P": "Identify the topic or theme of StackExchange posts based on the given paragraphs",
    "TwentyNewsgroupsClustering": "Identify the topic or theme of the given news articles",
    # C-MTEB
    "CLSClusteringS2S": "Identify the main category of scholar papers based on the titles",
    "CLSClusteringP2P": "Identify the main category of scholar papers based on the titles and abstracts",
    "ThuNewsClusteringS2S": "Identify the topic or theme of the given news articles based on the titles",
    "ThuNewsClusteringP2P": "Identify the topic or theme of the given news articles based on the titles and contents",
}

# Reranking and PairClassification share one dictionary in the unilm code.
RERANKING_PAIR = {
    "AskUbuntuDupQuestions": "Retrieve duplicate questions from AskUbuntu forum",
    "MindSmallReranking": "Retrieve relevant news articles based on user browsing history",
    "SciDocsRR": "Given a title of a scientific paper, retrieve the titles of other relevant papers",
    "StackOverflowDupQuestions": "Retrieve duplicate questions from StackOverflow forum",
    "SprintDuplicateQuestions": "Retrieve duplicate questions from Sprint forum",
    "TwitterSemEval2015": "Retrieve tweets that are semantically similar to the given tweet",
    "TwitterURLCorpus": "Retrieve tweets that are semantically similar to the given tweet",
    # C-MTEB
    "T2Reranking": "Given a Chinese search query, retrieve web passages that answer the question",
    "MMarcoReranking": "Given a Chinese search query, retrieve web passages that answer the question",
    "CMedQAv1": "Given a Chinese community medical question, retrieve replies that best answer the question",
    "CMedQAv2": "Given a Chinese community medical question, retrieve replies that best answer the question",
    "Ocnli": "Retrieve semantically similar text.",
    "Cmnli": "Retrieve semantically similar text.",
}

RETRIEVAL = {
    "ArguAna": "Given a claim, find documents that refute the claim",
    "ClimateFEVER": "Given a claim about climate change, retrieve documents that support or refute the claim",
    "CQADupstackRetrieval": CQADUPSTACK_INSTRUCTION,
    "DBPedia": "Given a query, retrieve relevant entity descriptions from DBPedia",
    "FEVER": "Given a claim, retrieve documents that support or refute the claim",
    "FiQA2018": "Given a financial question, retrieve user replies that best answer the question",
    "HotpotQA": "Given a multi-hop question, retrieve documents that can help answer the question",
    "MSMARCO": "Given a web search query, retrieve relevant passages that answer the query",
    "NFCorpus": "Given a question, retrieve relevant documents that best answer the question",
    "NQ": "Given a question, retrieve Wikipedia passages that answer the question",
    "QuoraRetrieval": "Given a question, retrieve questions that are semantically equivalent to the given question",
    "SCIDOCS": "Given a scientific paper title, retrieve paper abstracts that are cited by the given paper",
    "SciFact": "Given a scientific claim, retrieve documents that support or refute the claim",
    "Touche2020": "Given a question, retrieve detailed and persuasive arguments that answer the question",
    "TRECCOVID": "Given a query on COVID-19, retrieve documents that answer the query",
    # C-MTEB
    "T2Retrieval": "Given a Chinese search query, retrieve web passages that answer the question",
    "MMarcoRetrieval": "Given a web search query, retrieve relevant passages that answer the query",
    "DuRetrieval": "Given a Chinese search query, retrieve web passages that answer the question",
    "CovidRetrieval": "Given a question on COVID-19, retrieve news articles that answer the question",
    "CmedqaRetrieval": "Given a Chinese community medical question, retrieve replies that best answer the question",
    "EcomRetrieval": "Given a user query from an e-commerce website, retrieve description sentences of relevant products",
    "MedicalRetrieval": "Given a medical question, retrieve user replies that best answer the question",
    "VideoRetrieval": "Given a video search query, retrieve the titles of relevant videos",
    # Multilingual, not in the paper's evaluation (see SQUAD_INSTRUCTION)
    **dict.fromkeys(SQUAD_STYLE_TASKS, SQUAD_INSTRUCTION),
}
# Lower-case keys for every entry, plus the BEIR aliases and MIRACL (as in the unilm code).
RETRIEVAL.update({k.lower(): v for k, v in list(RETRIEVAL.items())})
RETRIEVAL.update(
    {
        "trec-covid": RETRIEVAL["TRECCOVID"],
        "climate-fever": RETRIEVAL["ClimateFEVER"],
        "dbpedia-entity": RETRIEVAL["DBPedia"],
        "webis-touche2020": RETRIEVAL["Touche2020"],
        "fiqa": RETRIEVAL["FiQA2018"],
        "quora": RETRIEVAL["QuoraRetrieval"],
        "miracl": MIRACL_INSTRUCTION,
    }
)

BY_TYPE = {
    "Classification": CLASSIFICATION,
    "Clustering": CLUSTERING,
    "Reranking": RERANKING_PAIR,
    "PairClassification": RERANKING_PAIR,
    "Retrieval": RETRIEVAL,
}
# Task types whose two inputs are of one kind (two sentences, a text and its translation): a model trained with
# `instruct_symmetric_tasks: false` encodes both bare, where the E5 protocol puts the instruction on both.
SYMMETRIC_TASK_TYPES = ("STS", "PairClassification", "Summarization", "BitextMining")
# Task types with one instruction for all their tasks.
TYPE_INSTRUCTIONS = {
    "STS": STS_INSTRUCTION,
    "Summarization": SUMMARIZATION_INSTRUCTION,
    "BitextMining": BITEXT_INSTRUCTION,
}


def get_instruction(task_name: str, task_type: str, instruct_symmetric: bool = True) -> str:
    """The instruction for an mteb task (name as mteb spells it, type as in its metadata). ValueError if unknown.
    `instruct_symmetric=False` (a model trained with `instruct_symmetric_tasks: false`): "" for SYMMETRIC_TASK_TYPES."""
    if not instruct_symmetric and task_type in SYMMETRIC_TASK_TYPES:
        return ""
    if task_type in TYPE_INSTRUCTIONS:
        return TYPE_INSTRUCTIONS[task_type]
    if task_type == "Retrieval" and task_name.lower().startswith("cqadupstack"):
        return CQADUPSTACK_INSTRUCTION
    if task_type in ("Retrieval", "Reranking") and task_name.lower().startswith("miracl"):
        return MIRACL_INSTRUCTION
    table = BY_TYPE.get(task_type, {})
    for key in (task_name, task_name.removesuffix(".v2"), task_name.lower()):
        if key in table:
            return table[key]
    raise ValueError(f"no E5 instruction for task {task_name!r} of type {task_type!r} (Wang et al., 2024, Table 15)")


def prompt_task_names() -> dict[str, str]:
    """The mteb tasks that get a per-task prompt, with their mteb type: every task the table names (as mteb spells
    it), its `.v2` successor, the 12 English CQADupstack sub-forums that MTEB(eng, v1) runs, and mteb's MIRACL tasks."""
    import mteb

    names = [name for table in BY_TYPE.values() for name in table if name[0].isupper()]
    names += [f"{name}.v2" for name in names]
    names += [f"CQADupstack{forum}Retrieval" for forum in CQADUPSTACK_FORUMS]
    names += [*MIRACL_TASKS, *(f"{name}.v2" for name in MIRACL_TASKS)]
    found = {}
    for name in dict.fromkeys(names):
        try:
            task_type = mteb.get_task(name).metadata.type
        except KeyError:  # a name of the unilm table that mteb does not have (e.g. `CQADupstackRetrieval.v2`)
            continue
        try:
            get_instruction(name, task_type)
        except ValueError:  # mteb files it under another type than the unilm table does
            continue
        found[name] = task_type
    return found


def sentence_transformer_prompts(
    template, default_instruction: str | None = None, instruct_symmetric: bool = True
) -> dict[str, str]:
    """SentenceTransformer prompts (`config_sentence_transformers.json`) that make plain mteb apply the E5 protocol.

    mteb's SentenceTransformer wrapper takes the first of `<Task>-<query|document>`, `<Task>`, `<Type>-<...>`,
    `<Type>`, `<query|document>` present in the prompts. So: `<Task>-query` for a Retrieval task (its documents fall
    through to `document`: no prompt), `<Task>` for every other task (queries, documents and unlabelled inputs alike:
    Reranking candidates get the instruction too), `<Type>` for STS, Summarization and BitextMining, `query` with the
    model's default instruction (Retrieval tasks the table lacks; `model.encode_query`) and `document` empty.
    `template` is a `synthembed.model_folder.QueryTemplate`. `instruct_symmetric=False`: empty prompts for every
    SYMMETRIC_TASK_TYPES type and its tasks (PairClassification's type too), so their inputs are encoded bare.
    """
    prompts = {"query": template.prompt(default_instruction or ""), "document": ""}
    prompts.update({task_type: template.prompt(text) for task_type, text in TYPE_INSTRUCTIONS.items()})
    if not instruct_symmetric:  # the types too: a task the table lacks falls through to `<Type>`, not to `query`
        prompts.update(dict.fromkeys(SYMMETRIC_TASK_TYPES, ""))
    for name, task_type in prompt_task_names().items():
        key = f"{name}-query" if task_type == "Retrieval" else name
        prompts[key] = template.prompt(get_instruction(name, task_type, instruct_symmetric))
    return prompts
