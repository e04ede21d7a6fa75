package store

// TrendsSQL lets the external tests EXPLAIN the trends query as it runs.
const TrendsSQL = trendsSQL
