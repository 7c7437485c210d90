"""`python -m services.prep`: run the PREP stage service."""

from services.prep.app.main import main

if __name__ == "__main__":  # the pool's spawned workers import this module too, and must not run the service
    main()
