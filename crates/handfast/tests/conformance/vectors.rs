//! Known-answer vectors (filled in below).
