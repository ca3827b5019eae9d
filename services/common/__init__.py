"""What every service needs: settings, event contracts, the bus, file storage, logging, errors."""
