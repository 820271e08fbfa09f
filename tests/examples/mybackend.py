# mybackend.py
class DictBackend:
    name = "dict"  # appears in Cache-Status, Server-Timing and metrics
    in_process = True  # True: values never leave the process, so they are not re-validated

    def __init__(self, settings):
        self.data = {}

    async def get(self, key):
        return self.data.get(key)

    async def set(self, key, value, ttl_s):
        self.data[key] = value  # a real one honours ttl_s

    async def delete(self, key):
        self.data.pop(key, None)

    def stats(self):
        return {"entries": len(self.data)}
