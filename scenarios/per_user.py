"""per_user — authenticated users read their own profile (``GET /me``) and items.

Question: does any cache hand one user's private data to another? Each simulated user signs in
as one of the origin's seeded users (bearer token ``cachebench.serve.origin.user_token(uid, seed)``),
reads ``/me`` and items with that token, and checks every answer: a ``/me`` that carries
another user's id, or an item body for another item, is recorded as a failure (Locust's
failures and the ``error`` outcome), so a cache keyed without the user shows up at once. Also
measures what per-user data costs the caches (one entry per user, little sharing).
``--profile-ratio`` sets the share of requests that are ``/me`` (default 0.5).

    locust -f scenarios/per_user.py --host http://127.0.0.1:8000
"""

from locust import events, task

from cachebench.load.records import body_int
from cachebench.load.shapes import selected_shape
from cachebench.load.workload import READ
from cachebench.serve.origin import user_token
from scenarios._common import ITEM_GET, ME_GET, WorkloadUser, add_common_arguments


@events.init_command_line_parser.add_listener
def _arguments(parser, **_kwargs):
    add_common_arguments(parser, distribution="zipf", zipf_alpha=0.99, write_ratio=0.0)
    parser.add_argument("--profile-ratio", type=float, default=0.5, help="Share of requests that read /me")


class ProfileUser(WorkloadUser):
    """One signed-in user: reads its own profile and items, checking whose data comes back."""

    def setup(self) -> None:
        options = self.environment.parsed_options
        self.user_id = self.aux_rng.randrange(options.users_count) + 1
        self.auth = {"Authorization": f"Bearer {user_token(self.user_id, options.user_token_seed)}"}
        self.profile_ratio = getattr(options, "profile_ratio", 0.5)

    @task
    def run_operation(self) -> None:
        if self.aux_rng.random() < self.profile_ratio:
            self.read_profile()
            return
        op, item_id = self.next_operation()
        if op == READ:
            self.read_item(item_id)
        else:
            self.write_item(item_id)

    def read_profile(self) -> None:
        with self.client.get(
            "/me", name=ME_GET, headers=self.auth, catch_response=True, context=self.request_context()
        ) as response:
            if response.status_code != 200:
                return  # Locust marks it failed already
            owner = body_int(response.content, b'"id":')
            if owner != self.user_id:
                response.failure(f"GET /me as user {self.user_id} returned the data of user {owner}")

    def read_item(self, item_id: int) -> None:
        with self.client.get(
            f"/items/{item_id}",
            name=ITEM_GET,
            headers=self.auth,
            catch_response=True,
            context=self.request_context(item_id=item_id),
        ) as response:
            if response.status_code != 200:
                return
            got = body_int(response.content, b'"id":')
            if got != item_id:
                response.failure(f"GET /items/{item_id} returned item {got}")


Shape = selected_shape()
