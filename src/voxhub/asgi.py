"""The ASGI application uvicorn serves: `uvicorn voxhub.asgi:app`."""

from voxhub.app import create_app
from voxhub.cli import _settings

app = create_app(_settings())
