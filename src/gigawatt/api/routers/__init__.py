"""One router per resource; each is thin and calls :mod:`gigawatt.services`."""
