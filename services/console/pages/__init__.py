"""One module per page (or group of pages), each an APIRouter the app includes."""
