"""Registered feature generators, their contract, the content-hash cache and the plan that runs them."""

from ._base import GENERATORS, FeatureGenerator, TargetGenerator, get_generator, register
from ._cache import FeatureCache, fingerprint_frame, generator_key
from ._plan import FeatureSet, FeatureSpec, build_features, target_input_columns, transform_features
from .embedding.row_cache import RowStore

# Each feature family registers its generators on import; listed one by one so the set is greppable.
from . import captions  # noqa: F401  captions
from . import category  # noqa: F401  category
from . import clusters  # noqa: F401  clusters
from . import crossmodal  # noqa: F401  crossmodal
from . import embeddings  # noqa: F401  glove, word2vec, sentence, static_embedding, clip_text
from . import emotion  # noqa: F401  text_emotion
from . import emotion_interactions  # noqa: F401  emotion_interactions
from . import face_emotion  # noqa: F401  face_emotion
from . import image  # noqa: F401  image_encoder, clip_image, image_stats
from . import media_emotion  # noqa: F401  media_emotion
from . import meta  # noqa: F401  post_meta
from . import neighbours  # noqa: F401  neighbour_labels
from . import oof_model  # noqa: F401  oof_model
from . import svd_vectors  # noqa: F401  user_svd, location_svd
from . import tags  # noqa: F401  hot_tags
from . import target  # noqa: F401  user_target, category_target, cluster_target
from . import text  # noqa: F401  text_stats, tfidf_svd
from . import time_geo  # noqa: F401  time, geo
from . import user  # noqa: F401  user_profile, user_posts, user_post_interval
from . import user_history  # noqa: F401  user_history
from . import video  # noqa: F401  video_frames, speech
from . import video_meta  # noqa: F401  video_meta

__all__ = [
    "GENERATORS",
    "FeatureCache",
    "FeatureGenerator",
    "FeatureSet",
    "FeatureSpec",
    "TargetGenerator",
    "build_features",
    "fingerprint_frame",
    "generator_key",
    "get_generator",
    "register",
    "RowStore",
    "target_input_columns",
    "transform_features",
]
