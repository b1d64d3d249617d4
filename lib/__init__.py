"""casting-inspection: small helpers the notebooks, the report runner and the tests call."""
