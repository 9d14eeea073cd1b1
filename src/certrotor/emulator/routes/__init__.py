"""The emulator's HTTP routes, one APIRouter per area (token, authorize, certificates, record, admin)."""
