"""Test settings plus BREAKERS_REDIS_URL from the environment, for child processes that must
see a Redis (or no Redis) different from the rest of the stack's."""

import os

from config.settings.test import *  # noqa: F403

BREAKERS_REDIS_URL = os.environ.get("BREAKERS_REDIS_URL") or REDIS_URL  # noqa: F405
