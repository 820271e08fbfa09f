"""Faults on a cell's Redis: the bench file's schedule, the injector that runs it (pause, slow through
a delaying proxy, kill, restart), and the phases and goals a fault cell is judged by."""
