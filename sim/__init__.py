"""A SimPy model of the request path of a Django/PostgreSQL SaaS on AWS."""
