"""Posting time (calendar parts, cyclic hour) and geo tag (coordinates, grid-cell density, distance from home)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import FeatureGenerator, register
from ._common import DAY, codes, frame_of, group_sum, to_seconds, utc

EARTH_RADIUS_KM = 6371.0088


@register
class Time(FeatureGenerator):
    """Calendar parts of the UTC posting time, a cyclic hour and days since the first post of the fitted frame.

    The origin of `days_since_start` is learned at fit, so new posts are placed on the same axis.
    """

    name = "time"
    group = "temporal"
    requires = ("post_time",)
    version = 1

    def __init__(self) -> None:
        pass

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        sec = to_seconds(X["post_time"])
        self.origin_ = float(np.nanmin(sec)) if np.isfinite(sec).any() else 0.0

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        t = utc(X["post_time"])
        hour = t.dt.hour.to_numpy(dtype=float)
        frac_hour = hour + t.dt.minute.to_numpy(dtype=float) / 60.0
        weekday = t.dt.day_of_week.to_numpy(dtype=float)
        angle = 2.0 * np.pi * frac_hour / 24.0
        out = {
            "hour": hour,
            "weekday": weekday,
            "month": t.dt.month.to_numpy(dtype=float),
            "day": t.dt.day.to_numpy(dtype=float),
            "day_of_year": t.dt.day_of_year.to_numpy(dtype=float),
            "week": t.dt.isocalendar().week.to_numpy(dtype=float, na_value=np.nan),
            "year": t.dt.year.to_numpy(dtype=float),
            "is_weekend": (weekday >= 5).astype(float),
            "hour_sin": np.sin(angle),
            "hour_cos": np.cos(angle),
            "days_since_start": (to_seconds(X["post_time"]) - self.origin_) / DAY,
        }
        return frame_of(X.index, self.name, out)


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=1)


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km (NaN where any coordinate is missing)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def grid_cells(lat: np.ndarray, lon: np.ndarray, cell_deg: float) -> np.ndarray:
    """An int64 cell id per post on a `cell_deg` grid, -1 where the post has no geo tag."""
    has = np.isfinite(lat) & np.isfinite(lon)
    i = np.floor(np.where(has, lat, 0.0) / cell_deg).astype(np.int64)
    j = np.floor(np.where(has, lon, 0.0) / cell_deg).astype(np.int64)
    span = int(np.ceil(360.0 / cell_deg)) + 2
    cell = (i + span) * (2 * span + 1) + (j + span)
    return np.where(has, cell, -1)


@register
class Geo(FeatureGenerator):
    """Coordinates, whether the post has a geo tag, posts in its grid cell and its distance to the user's centre."""

    name = "geo"
    group = "geo"
    requires = ("user_id", "latitude", "longitude", "geo_accuracy")
    version = 2  # 2: cell counts on the fitted frame's scale (`at_fitted_size`)

    def __init__(self, *, cell_deg: float = 1.0) -> None:
        self.cell_deg = cell_deg

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        if not (isinstance(self.cell_deg, (int, float)) and self.cell_deg > 0):
            raise ValueError(f"`cell_deg > 0` must hold, but got cell_deg={self.cell_deg!r}")

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        lat = pd.to_numeric(X["latitude"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        lon = pd.to_numeric(X["longitude"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        has = np.isfinite(lat) & np.isfinite(lon)
        cell = grid_cells(lat, lon, float(self.cell_deg))
        cell_codes, cell_uniques = pd.factorize(cell)
        cell_count = np.bincount(cell_codes, minlength=len(cell_uniques)).astype(float)[cell_codes]
        cell_count[~has] = np.nan

        # The user's centre is the normalised mean of unit vectors: correct across the date line and the poles.
        g, k = codes(X["user_id"])
        v = np.where(has[:, None], _unit_vectors(np.where(has, lat, 0), np.where(has, lon, 0)), 0.0)
        sums = np.stack([group_sum(g, k, v[:, d]) for d in range(3)], axis=1)
        norm = np.linalg.norm(sums, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            c_lat = np.degrees(np.arctan2(sums[:, 2], np.hypot(sums[:, 0], sums[:, 1])))
            c_lon = np.degrees(np.arctan2(sums[:, 1], sums[:, 0]))
        c_lat[norm < 1e-12] = np.nan
        c_lon[norm < 1e-12] = np.nan
        dist = haversine_km(lat, lon, c_lat[g], c_lon[g])
        out = {
            "latitude": lat,
            "longitude": lon,
            "geo_accuracy": pd.to_numeric(X["geo_accuracy"], errors="coerce").to_numpy(dtype=float, na_value=np.nan),
            "has_geo": has.astype(float),
            "cell_count": self.at_fitted_size(cell_count, X),
            "dist_user_center_km": np.where(has, dist, np.nan),
        }
        return frame_of(X.index, self.name, out)
