"""The encoder machinery behind the embedding generators (the generators themselves are feature families in
`features/`: `embeddings.py`, `image.py`, `video.py`, ...).

- `generator.py`: `EmbeddingGenerator`, the base of every embedding generator (row cache lookups, batching, PCA
  reduction, `{name}__{i}` columns) and the text prompts the text encoders embed;
- `pca.py`: the PCA that reduces an embedding block, independent of row order;
- `encoders.py`: pretrained encoders on PyTorch (sentence-transformers, CLIP, EfficientNet-Lite0), model identities;
- `onnx_encoders.py`: the same sentence models and EfficientNet-Lite0 exported to and run by ONNX Runtime;
- `model2vec_encoder.py`: static (model2vec) token-table embeddings distilled from a sentence model;
- `backends.py`: which engine (PyTorch or ONNX Runtime) runs an encoder on a device;
- `model_folders.py`: models built from other models (distillations, exports), cached as folders;
- `row_cache.py`: `RowStore`, the per-row cache of vectors and model-written texts;
- `media_files.py`: reading and decoding the posts' image, video and audio files.
"""
