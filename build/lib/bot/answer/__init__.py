"""The answer path: understand -> retrieve -> prompt -> generate -> check -> deliver, one module a stage,
run in order by `pipeline.AnswerPipeline`; the values passed between stages are in `types`."""
