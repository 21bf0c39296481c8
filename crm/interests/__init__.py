"""Interest profiles (hồ sơ quan tâm) of contacts and groups; compiled to queries later."""
