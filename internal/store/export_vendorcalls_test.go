package store

// VendorCallsSQL lets the external tests EXPLAIN the per-vendor query.
const VendorCallsSQL = vendorCallsSQL
