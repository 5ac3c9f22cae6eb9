//! NetSuite connector against the NetSuite simulator.
