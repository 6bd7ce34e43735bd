"""Dated answers and the claim check with the real reader, on the invented dated fixture (tests/fixtures/dated):
what is asserted is where the answer reads from and that it says when, not its wording."""

import dataclasses
import shutil
from pathlib import Path

import pytest

from rag.pipeline import Pipeline
from rag.schema import DateRange

pytestmark = pytest.mark.integration
CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "dated" / "corpus"


@pytest.fixture(scope="module")
def dated(real_pipeline, real_settings, tmp_path_factory) -> Pipeline:
    data = tmp_path_factory.mktemp("dated") / "data"
    shutil.copytree(CORPUS, data)
    settings = dataclasses.replace(real_settings, data_dir=data, index_dir=data.parent / "index")
    return Pipeline(settings, embedder=real_pipeline.embedder, generator=real_pipeline.generator)


def test_now_reads_the_newest_report_and_says_its_date(dated):
    a = dated.answer("Is the Velloran Dockworks strike still going on?")
    assert not a.refused
    assert {c.doc for c in a.citations} == {"velloran_strike_2026-06-05_northgate_ledger.md"}
    assert a.answer.startswith("As of 5 June 2026, ")


def test_a_date_reads_that_time_and_the_filter_narrows(dated):
    a = dated.answer("How full was the Tarn Hollow Reservoir in March 2026?")
    assert [c.doc for c in a.citations] == ["tarn_hollow_reservoir_2026-03-30_meridian_wire.md"]
    assert "54 percent" in a.answer and "30 March 2026" in a.answer
    b = dated.answer("How full is the Tarn Hollow Reservoir?", dates=DateRange("2026-01-01", "2026-01-31"))
    assert {c.doc for c in b.citations} <= {"tarn_hollow_reservoir_2026-01-20_sallowport_beacon.md"}


def test_claims_checked_against_the_library(dated):
    true = dated.check_claim("The Tarn Hollow Reservoir had fallen to 31 percent full by July 2026.")
    assert true["verdict"] == "supported" and true["published"] == "2026-07-08"
    assert true["outlet"] == "Northgate Ledger" and "31 percent" in true["quote"]
    false = dated.check_claim("The Velloran Dockworks strike ended in March 2026.")
    assert false["verdict"] in ("not supported", "contradicted")
