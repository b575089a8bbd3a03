"""The compliance audit: checks of the live system against the register and the GDPR."""
