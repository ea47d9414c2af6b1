"""pytest plugin of clp-testnet: backend, node and seed options, cluster fixtures, scenario runs.

Installed as a ``pytest11`` entry point, so any suite in an environment with clp-testnet
gets it: ``--backend local|docker|swarm``, ``--node python|rust`` (or ``--mix
python:3,rust:2``, a mixed testnet) and ``--seed N`` choose where nodes run, which
implementation runs them and which keys they get;
``clp_cluster_factory`` starts testnets and always stops them; ``clp_run_scenario`` runs a
scenario into the test's tmp_path (report.html included). A failing test that started a
cluster gets a report section with the node log paths and the command that reproduces it;
one that ran a scenario, its report path and reproduce command, also as JUnit properties.

    async def test_lazy(clp_cluster_factory):
        async with clp_cluster_factory(validators=4, clp={"epoch_length": 30}) as (c, nemesis):
            await nemesis.apply("lazy", node="v3")
            await c.wait_for_epoch_result(0)
"""

from __future__ import annotations

import itertools
import os
import shlex
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from contextlib import (
    AbstractAsyncContextManager,
    ExitStack,
    asynccontextmanager,
    contextmanager,
)
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

# The plugin is loaded by every pytest run in an environment that has the package, before
# coverage starts measuring: importing the node or the harness here would hide their
# import-time lines from coverage. They are imported where a fixture first needs them;
# these constants mirror harness.cluster.backends.BACKENDS, harness.scenario.runner's
# DEFAULT_SEED and the kinds of harness.node_kinds (a unit test keeps them equal).
BACKENDS = ("local", "docker", "swarm")
DEFAULT_SEED = 1
NODE_KINDS = ("python", "rust")
DEFAULT_NODE = "python"

if TYPE_CHECKING:
    from harness.cluster.base import Cluster
    from harness.contract.genesis import ConsensusParams
    from harness.contract.params import ClpParams
    from harness.faults.nemesis import Nemesis
    from harness.scenario.model import Scenario
    from harness.scenario.results import ScenarioResult

try:
    import pytest_asyncio

    HAVE_PYTEST_ASYNCIO = True
except ImportError:  # pragma: no cover - the async fixtures need pytest-asyncio
    HAVE_PYTEST_ASYNCIO = False

_CLUSTERS = pytest.StashKey[list["Cluster"]]()
_RUNS = pytest.StashKey[list["ScenarioResult"]]()


class RunningCluster(NamedTuple):
    cluster: Cluster
    nemesis: Nemesis


ClusterFactory = Callable[..., AbstractAsyncContextManager[RunningCluster]]

# Set once a worker has taken its slice of the port range: a process it starts that loads
# this plugin again must not slice the slice.
_SLICED = "CLP_TESTNET_PORTS_SLICED"


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker picks ports from a slice of its own (CLP_TESTNET_PORTS,
    inherited by the CLIs and nodes it starts): workers run testnets at the same time, and
    a node restarted by one must find its ports still free. The slices divide the range
    the run was given (``make test`` gives suites that run side by side a range each)."""
    from harness.cluster.ports import PORT_RANGE_ENV, worker_range

    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if worker.startswith("gw") and count.isdigit() and not os.environ.get(_SLICED):
        os.environ[PORT_RANGE_ENV] = worker_range(int(worker[2:]), int(count))
        os.environ[_SLICED] = "1"  # the CLIs and nodes it starts keep the worker's slice


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("clp-testnet", "CLP testnet clusters and scenarios")
    group.addoption(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="where clp-testnet clusters run (default local)",
    )
    group.addoption(
        "--node",
        choices=NODE_KINDS,
        default=DEFAULT_NODE,
        help=f"which node implementation clp-testnet clusters run (default {DEFAULT_NODE}; "
        "rust: the release binary `make rust` builds); CLP_TESTNET_NODE_COMMAND (local) or "
        "CLP_TESTNET_NODE_IMAGE (containers), when set, win",
    )
    group.addoption(
        "--mix",
        default=None,
        metavar="KIND:COUNT,...",
        help="mixed testnets, e.g. python:3,rust:2: the kinds dealt round-robin over the "
        "validators (a pattern repeated when the counts do not add up to them); a scenario's "
        "own [cluster] nodes win. Exclusive with --node",
    )
    group.addoption(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"seed of testnet keys and scenario randomness (default {DEFAULT_SEED})",
    )


@pytest.fixture(scope="session")
def clp_backend(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--backend"))


@pytest.fixture(scope="session")
def clp_node(request: pytest.FixtureRequest) -> str:
    """The node kind clusters run (``--node``); a module may override this fixture."""
    return str(request.config.getoption("--node"))


@pytest.fixture(scope="session")
def clp_mix(request: pytest.FixtureRequest) -> str | None:
    """The mix of node kinds clusters run (``--mix``), None for one kind; exclusive with
    ``--node``; a module may override this fixture."""
    mix = request.config.getoption("--mix")
    if mix and str(request.config.getoption("--node")) != DEFAULT_NODE:
        raise pytest.UsageError("--mix and --node exclude each other: give one")
    return str(mix) if mix else None


@contextmanager
def node_resolved(node: str, backend: str, mix: str | None = None) -> Iterator[None]:
    """The body with ``node`` (or the mix ``mix``) resolved for ``backend``
    (harness.node_kinds); a kind that cannot run here (the Rust node not built) fails the
    test with one line, never skips."""
    from harness.cluster.node_choice import node_environment
    from harness.node_kinds import NodeKindError

    with ExitStack() as stack:
        try:
            stack.enter_context(node_environment(node, backend, mix=mix))
            cannot = None
        except NodeKindError as exc:
            cannot = f"--mix {mix}: {exc}" if mix else f"--node {node}: {exc}"
        if cannot is not None:  # outside the except: the failure is this line alone
            pytest.fail(cannot, pytrace=False)
        yield


@pytest.fixture(scope="session")
def clp_seed(request: pytest.FixtureRequest) -> int:
    return int(request.config.getoption("--seed"))


def logs_hint(cluster: Cluster) -> str:
    """Node log paths, one per line: what to open when an assertion about a cluster fails."""
    return "\n".join(f"log {n}: {cluster.log_path(n)}" for n in cluster.names)


def reproduce_test(item: pytest.Item) -> str:
    """The pytest command that runs this test again with the same backend, node and seed."""
    config = item.config
    node = str(config.getoption("--node"))
    mix = config.getoption("--mix")
    return shlex.join(
        [
            "pytest",
            item.nodeid,
            "--backend",
            str(config.getoption("--backend")),
            *(["--node", node] if node != DEFAULT_NODE else []),
            *(["--mix", str(mix)] if mix else []),
            "--seed",
            str(config.getoption("--seed")),
        ]
    )


def display_path(path: Path) -> Path:
    """``path`` relative to the working directory when it lies below it (shorter commands)."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def _overrides(cls: Any, base: Any, value: Any) -> Any:
    if value is None:
        return base
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        return replace(base, **dict(value))
    raise TypeError(f"want a {cls.__name__} or a mapping of overrides, got {value!r}")


if HAVE_PYTEST_ASYNCIO:

    @pytest_asyncio.fixture
    async def clp_cluster_factory(
        request: pytest.FixtureRequest,
        tmp_path: Path,
        clp_backend: str,
        clp_seed: int,
        clp_node: str,
        clp_mix: str | None,
    ) -> AsyncIterator[ClusterFactory]:
        """``factory(validators=5, clp=None, consensus=None, stakes=None, seed=None,
        nodes=None)``: an async context manager yielding ``(cluster, nemesis)`` of a started
        testnet in tmp_path; ``clp``/``consensus`` are overrides of the test profile (a
        mapping) or a whole ClpParams/ConsensusParams; ``nodes`` the node kind of each
        validator (over ``--node`` and ``--mix``). Every cluster is stopped on exit and at
        teardown."""
        started: list[Cluster] = request.node.stash.setdefault(_CLUSTERS, [])
        counter = itertools.count()

        @asynccontextmanager
        async def factory(
            validators: int = 5,
            clp: ClpParams | Mapping[str, int] | None = None,
            consensus: ConsensusParams | Mapping[str, int] | None = None,
            stakes: list[int] | None = None,
            seed: int | str | None = None,
            nodes: list[str] | None = None,
        ) -> AsyncIterator[RunningCluster]:
            from harness.cluster.backends import init_for_backend, make_cluster
            from harness.contract.genesis import ConsensusParams
            from harness.contract.params import ClpParams
            from harness.faults.nemesis import Nemesis
            from harness.node_mix import mix_nodes, parse_mix

            if nodes is None and clp_mix:
                nodes = mix_nodes(parse_mix(clp_mix), validators, exact=False)

            root = tmp_path / f"testnet-{next(counter)}"
            manifest = init_for_backend(
                clp_backend,
                root,
                validators=validators,
                clp=_overrides(ClpParams, ClpParams.test_profile(), clp),
                consensus=_overrides(ConsensusParams, ConsensusParams.test_profile(), consensus),
                stakes=stakes,
                seed=str(clp_seed if seed is None else seed),
                nodes=nodes,
            )
            cluster: Cluster | None = None
            try:
                with node_resolved(
                    clp_node, clp_backend, clp_mix
                ):  # read by make_cluster and start
                    cluster = make_cluster(clp_backend, manifest, root / "logs")
                    started.append(cluster)
                    await cluster.start()
                yield RunningCluster(cluster, Nemesis(cluster, cluster.fault_api()))
            finally:
                if cluster is not None:
                    await cluster.shutdown()

        yield factory
        for cluster in started:
            await cluster.shutdown()

    @pytest_asyncio.fixture
    async def clp_run_scenario(
        request: pytest.FixtureRequest,
        tmp_path: Path,
        clp_backend: str,
        clp_seed: int,
        clp_node: str,
        clp_mix: str | None,
    ) -> AsyncIterator[Callable[[Scenario], Any]]:
        """``await clp_run_scenario(scenario)``: one run into tmp_path/run (report.html
        included); a failing test then names the run's report and reproduce command, in
        its report section and as JUnit properties."""
        runs: list[ScenarioResult] = request.node.stash.setdefault(_RUNS, [])

        async def run(scenario: Scenario) -> ScenarioResult:
            from harness.scenario.runner import RunOptions, run_scenario

            d = tmp_path / ("run" if not runs else f"run-{len(runs)}")
            opts = RunOptions(
                seed=clp_seed, backend=clp_backend, run_dir=d, node=clp_node, mix=clp_mix or ""
            )
            with node_resolved(clp_node, clp_backend, clp_mix):
                result = await run_scenario(scenario, opts)
            runs.append(result)
            return result

        yield run

    @pytest_asyncio.fixture
    async def clp_cluster(clp_cluster_factory: ClusterFactory) -> AsyncIterator[RunningCluster]:
        """A started 5-validator testnet with the test profile, and its Nemesis."""
        async with clp_cluster_factory() as running:
            yield running


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    clusters = item.stash.get(_CLUSTERS, [])
    runs = item.stash.get(_RUNS, [])
    if report.failed and clusters:
        text = [f"reproduce: {reproduce_test(item)}"]
        text += [logs_hint(c) for c in clusters]
        report.sections.append(("clp-testnet", "\n".join(text)))
    if report.failed and runs:
        text = []
        for r in runs:
            page = str(Path(r.out_dir) / "report.html")
            text += [f"report: {page}", f"reproduce: {r.reproduce}"]
            for prop in (("report", page), ("reproduce", r.reproduce)):
                if prop not in item.user_properties:  # a later phase may fail too
                    item.user_properties.append(prop)
        report.sections.append(("clp-testnet run", "\n".join(text)))
