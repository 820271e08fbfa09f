"""The results folder and every record in it: file names, the atomic writer, and one typed,
versioned model per file, shared by the runner that writes it and the analysis that reads it
(``cachebench schema`` prints their JSON Schemas).

``folder``: where files go; ``record``: the versioned base; ``cell_spec``, ``headlines``,
``summaries``, ``latency_record``, ``fault_record``, ``verify_record``, ``manifest``,
``sweep_record``: the records; ``csv_row``, ``sample_record``, ``row_log_record``: the CSV
files' rows and their column names; ``schema``: the tables of files and their schemas;
``provenance``: code hash, git state, machine, versions.
"""

from cachebench.results.cell_spec import CellFile, CellSpec, FaultSpec, SearchSpec
from cachebench.results.csv_row import Columns, CsvRow
from cachebench.results.fault_record import (
    FaultEvent,
    FaultGoal,
    FaultPhase,
    FaultsEvaluation,
    FaultsFile,
    FaultWindow,
)
from cachebench.results.folder import *  # the file names and writers
from cachebench.results.headlines import AtCapacity, Headline, SearchHeadline
from cachebench.results.latency_record import BrowserCounts, HistogramSummary, LatencyRecord, Timeline, Window
from cachebench.results.manifest import CellState, Manifest, read_manifest
from cachebench.results.record import SCHEMA_VERSION, RecordError
from cachebench.results.row_log_record import (
    CLIENT_WRITE,
    ORIGIN_WRITE,
    READ,
    ClientWriteRow,
    OriginWriteRow,
    ReadRow,
)
from cachebench.results.sample_record import (
    LAYER,
    SAMPLE,
    LayerSample,
    SampleRow,
    by_layer,
    layer_column,
    samples_csv,
    samples_header,
    split_layer_column,
)
from cachebench.results.summaries import (
    AfterRecorded,
    CellSummary,
    Cpus,
    IdleCpu,
    Saturation,
    SearchSummary,
    StaleFigures,
    Staleness,
    StepFigures,
    StepRecord,
    WarmupRecord,
    read_summary,
)
from cachebench.results.verify_record import CheckOutcome, VerifyFile
