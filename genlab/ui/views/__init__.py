"""One module per view: its tab's layout, handlers and wiring (DESIGN.md, "one room per view").

Each view class has ``id`` and ``title``, ``build(shared)`` (inside the app's Tabs), and optionally
``refresh(model, seed, current, *refresh_inputs)`` with ``refresh_inputs``/``refresh_outputs``/``cleared()``
(the default it shows when opened), ``model_controls(model)`` (controls that depend on the model's family)
and ``wire_shared(shared)`` (events that reach into another view, wired after every view is built).
"""
from genlab.ui.views.arithmetic import ArithmeticView
from genlab.ui.views.compare import CompareView
from genlab.ui.views.encode import EncodeView
from genlab.ui.views.explore import ExploreView
from genlab.ui.views.interpolate import InterpolateView
from genlab.ui.views.lesson import LessonView
from genlab.ui.views.map import MapView
from genlab.ui.views.models import ModelsView
from genlab.ui.views.nearest import NearestView
from genlab.ui.views.samples import SamplesView
from genlab.ui.views.share import ShareView
from genlab.ui.views.training import TrainingView

# tab order: the live explorer first, the registry last
VIEWS = (ExploreView, SamplesView, InterpolateView, EncodeView, MapView, TrainingView, NearestView, ArithmeticView,
         CompareView, LessonView, ShareView, ModelsView)

__all__ = ["VIEWS"]
