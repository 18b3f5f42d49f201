"""rag-eval (flows/examples/rag-eval.json) built with the SDK."""

from weft import Flow, call, if_, raw

DOCUMENTS = [
    {"id": "runs", "text": "A run is one execution of one flow version with one input. A run starts queued, becomes "
                           "running, and ends succeeded, failed, cancelled or timed out. Operators can cancel a run, "
                           "retry a failed run from its failed steps, or rerun it from a chosen block."},
    {"id": "workers", "text": "A worker is any process that long-polls the worker API for a queue. The queue of a "
                              "block is its name unless the block definition names another queue. A worker sends "
                              "heartbeats to extend its lease; when a lease lapses the task is delivered again."},
    {"id": "blocks", "text": "A block definition is a reusable unit of work with typed input and output, a retry "
                             "policy, a timeout and a dispatch kind. The dispatch kind is worker for blocks pulled "
                             "by workers, or http for blocks the engine pushes to a service."},
    {"id": "sagas", "text": "A block may name a compensation. When a run fails, the compensations of completed "
                            "blocks run in reverse completion order, like a saga. Flow level on_failure blocks run "
                            "last."},
    {"id": "storage", "text": "Weft keeps all state in one SQL database. The default is an embedded SQLite file; "
                              "production uses PostgreSQL, where several replicas share the work with row locks."},
]

QUESTIONS = [
    {"question": "What happens when a worker lease lapses?",
     "expected": "when a lease lapses the task is delivered again"},
    {"question": "In which order do compensations run when a run fails?",
     "expected": "compensations of completed blocks run in reverse completion order"},
    {"question": "Which database does Weft use by default?", "expected": "the default is an embedded SQLite file"},
]


def build() -> Flow:
    f = Flow(
        "rag-eval",
        title="RAG evaluation",
        description="Chunks and embeds documents, builds a vector index, answers each question with retrieved "
                    "context and a chat model, judges every answer against the expected one and publishes the "
                    "report when the average score is good enough.",
        input_schema={
            "type": "object",
            "required": ["documents", "questions"],
            "properties": {
                "documents": {
                    "type": "array", "title": "Documents", "minItems": 1,
                    "items": {"type": "object", "required": ["id", "text"],
                              "properties": {"id": {"type": "string"}, "text": {"type": "string"}}},
                    "default": DOCUMENTS,
                },
                "questions": {
                    "type": "array", "title": "Questions", "minItems": 1,
                    "items": {"type": "object", "required": ["question", "expected"],
                              "properties": {"question": {"type": "string"}, "expected": {"type": "string"}}},
                    "default": QUESTIONS,
                },
                "model": {"type": "string", "title": "Chat model", "default": "weft-local"},
                "top_k": {"type": "integer", "title": "Passages per question", "minimum": 1, "maximum": 10,
                          "default": 2},
                "chunk_words": {"type": "integer", "title": "Words per chunk", "minimum": 5, "default": 24},
                "min_score": {"type": "number", "title": "Average score needed to publish", "minimum": 0,
                              "maximum": 1, "default": 0.5},
            },
        },
    )
    inp = f.input
    min_score = inp["min_score"].or_default(0.5)

    with f.map("chunks", inp["documents"], concurrency=4) as chunks:
        chunks.block("embed", "docs.chunk_embed", {
            "doc": chunks.item, "chunk_words": inp["chunk_words"].or_default(24), "dim": 256})
    vectors = f.block("vectors", "index.build", {"parts": chunks.output, "dim": 256})

    with f.map("answers", inp["questions"], concurrency=2) as answers:
        item = answers.item
        retrieve = answers.block("retrieve", "rag.retrieve", {
            "index_uri": vectors.output["index_uri"], "question": item["question"],
            "top_k": inp["top_k"].or_default(2)})
        chat = answers.block("chat", "llm.chat", {
            "model": inp["model"].or_default("weft-local"),
            "temperature": 0,
            "messages": [
                {"role": "system", "content": "Answer the question in one sentence, using only the context."},
                {"role": "user", "content": f"Context:\n{retrieve.output['context']}\n\nQuestion: {item['question']}"},
            ],
        })
        answers.block("judge", "rag.judge", {
            "question": item["question"], "expected": item["expected"],
            "answer": chat.output["choices"][0]["message"]["content"], "context": retrieve.output["context"]})

    n = call("len", answers.output)
    scores = call("map", answers.output, raw(".score"))
    score = f.lambda_("score", {
        "average": if_(n > 0, call("sum", scores) / n, 0.0),
        "count": n,
        "lowest": if_(n > 0, call("min", scores), 0.0),
    })

    verdict = f.decision("verdict", if_(score.output["average"] >= min_score, "publish", "reject"))
    verdict.case("publish").block("publish", "report.publish", {
        "title": f"RAG evaluation {f.run_id}", "score": score.output["average"], "results": answers.output})
    verdict.case("reject").block("reject", "notify.team", {
        "channel": "genai-team",
        "text": f"rag-eval run {f.run_id}: average score {score.output['average']} is below {min_score}; "
                "report not published"})

    f.output({"average_score": score.output["average"], "questions": score.output["count"],
              "results": answers.output, "report": verdict.output.get("uri")})
    return f


flow = build()
