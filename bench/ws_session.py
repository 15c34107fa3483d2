"""A light Streamlit client for load tests: one websocket session, no browser.

It speaks the app's own protocol (Streamlit's BackMsg / ForwardMsg protobufs over
``/_stcore/stream``), as the browser does: a rerun request with the page and the widget
states, then the server's deltas and its ``script_finished``. It keeps what a page drew
(its widgets by label, error boxes), fetches the pictures the page shows (``/media/...``,
as a browser would), and times each interaction from request to "script finished". It
draws nothing, so twenty of them fit on a small machine where twenty Chromium tabs do not.

    s = WsSession("user-0", "http://127.0.0.1:8501")
    await s.open()
    await s.act("navigate: manifold", s.navigate("Manifold"))
    await s.act("slider: grid size", s.move_slider("Grid size", 0.7))

It can also fill a number input and click a button (``set_number``, ``click``), and keeps the
text the last run (or fragment run) drew (``texts``: markdown, headings, alerts, progress captions). ``headers``
go with the websocket's handshake, as a proxy in front of the app would add them.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request

ACTION_TIMEOUT_S = 60.0


class WsSession:
    def __init__(self, name: str, base_url: str, headers: dict[str, str] | None = None):
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._back, self._forward = BackMsg, ForwardMsg
        self.name, self.base, self.headers = name, base_url.rstrip("/"), dict(headers or {})
        self.texts: list[str] = []  # what the last run drew, as text
        self.alerts: list[str] = []  # its error boxes (also counted in errors unless expect_errors)
        self.expect_errors = False  # error boxes are answers (a refusal), not failures
        self.latencies: list[tuple[str, float]] = []
        self.idle_latencies: list[tuple[str, float]] = []  # = latencies (nothing to draw); kept for the summary
        self.errors: list[str] = []
        self.no_rerun: list[str] = []
        self.js_errors: list[str] = []
        self.pages: dict[str, str] = {}  # page name (lower case) -> page_script_hash
        self.page_hash = ""
        self.widgets: dict[str, object] = {}  # label -> the widget's proto (this page's)
        self.fragments: dict[str, str] = {}  # widget id -> the st.fragment it is drawn in (as the browser knows)
        self.states: dict[str, object] = {}  # widget id -> WidgetState last sent on this page
        self.media: list[str] = []
        self.media_fetched = 0
        self._finished = asyncio.Event()
        self._run_errors: list[str] = []
        self._ws = None
        self._reader: asyncio.Task | None = None

    # ------------------------------------------------------------------ connection

    async def open(self) -> float:
        from websockets.asyncio.client import connect

        t0 = time.perf_counter()
        url = self.base.replace("http://", "ws://") + "/_stcore/stream"
        self._ws = await connect(url, subprotocols=["streamlit"], origin=self.base, max_size=None,
                                 additional_headers=self.headers or None)
        self._reader = asyncio.create_task(self._read())
        await self._rerun("")
        await self._wait_finished("open", t0)
        return (time.perf_counter() - t0) * 1000

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()

    async def _read(self) -> None:
        try:
            async for payload in self._ws:
                if isinstance(payload, (bytes, bytearray)):
                    self._handle(bytes(payload))
        except Exception as err:  # noqa: BLE001 - a dropped connection is a finding
            self.errors.append(f"websocket closed: {type(err).__name__}: {err}")

    def _handle(self, payload: bytes) -> None:
        msg = self._forward()
        msg.ParseFromString(payload)
        kind = msg.WhichOneof("type")
        if kind in ("new_session", "navigation"):
            body = getattr(msg, kind)
            pages = {p.page_name.lower(): p.page_script_hash for p in body.app_pages if p.page_name}
            self.pages = pages or self.pages
            if body.page_script_hash and body.page_script_hash != self.page_hash:
                self.page_hash = body.page_script_hash
                self.widgets, self.states, self.fragments = {}, {}, {}
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self._element(msg.delta.new_element, msg.delta.fragment_id)
        elif kind == "script_finished":
            status = msg.script_finished
            if status in (self._forward.FINISHED_SUCCESSFULLY, self._forward.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
                self._finished.set()
            elif status == self._forward.FINISHED_WITH_COMPILE_ERROR:
                self._run_errors.append("compile error")
                self._finished.set()
        elif kind == "page_not_found":
            self._run_errors.append(f"page not found: {msg.page_not_found.page_name}")

    def _element(self, el, fragment_id: str = "") -> None:
        kind = el.WhichOneof("type")
        if kind in ("markdown", "heading", "alert"):
            self.texts.append(getattr(el, kind).body)
        elif kind == "progress":
            self.texts.append(el.progress.text)
        if kind == "exception":
            self._run_errors.append(f"exception: {el.exception.type}: {el.exception.message[:200]}")
        elif kind == "alert" and el.alert.format == el.alert.ERROR:
            self.alerts.append(el.alert.body)
            if not self.expect_errors:
                self._run_errors.append(f"error alert: {el.alert.body[:200]}")
        elif kind == "imgs":
            self.media += [img.url for img in el.imgs.imgs if img.url.startswith("/media/")]
        elif kind in ("slider", "button", "number_input"):
            widget = getattr(el, kind)
            self.widgets[widget.label] = widget
            if fragment_id:
                self.fragments[widget.id] = fragment_id

    # ------------------------------------------------------------------ interactions

    async def _rerun(self, page_hash: str, states: list | None = None, fragment_id: str = "") -> None:
        msg = self._back()
        state = msg.rerun_script
        state.page_script_hash = page_hash
        state.fragment_id = fragment_id  # a widget in an st.fragment reruns only that fragment, as in the browser
        for widget_state in states or []:
            state.widget_states.widgets.append(widget_state)
        self._finished.clear()
        self._run_errors = []
        self.media = []
        self.texts, self.alerts = [], []
        await self._ws.send(msg.SerializeToString())

    async def _wait_finished(self, kind: str, t0: float) -> float:
        await asyncio.wait_for(self._finished.wait(), ACTION_TIMEOUT_S)
        ms = (time.perf_counter() - t0) * 1000
        self.errors += [f"{kind}: {e}" for e in self._run_errors]
        await self._fetch_media()
        return ms

    async def _fetch_media(self) -> None:
        def get(url: str) -> None:
            with urllib.request.urlopen(self.base + url, timeout=30) as r:
                r.read()

        for url in self.media:
            try:
                await asyncio.to_thread(get, url)
                self.media_fetched += 1
            except Exception as err:  # noqa: BLE001 - a missing picture is an error the user would see
                self.errors.append(f"media {url}: {type(err).__name__}")

    async def act(self, kind: str, request) -> float | None:
        """Send one rerun request (a coroutine from navigate / move_slider) and time it."""
        t0 = time.perf_counter()
        try:
            sent = await request
            if sent is False:
                self.no_rerun.append(kind)
                return None
            ms = await self._wait_finished(kind, t0)
        except Exception as err:  # noqa: BLE001 - a timeout is a finding, not a crash
            self.errors.append(f"{kind}: {type(err).__name__}: {str(err)[:200]}")
            return None
        self.latencies.append((kind, ms))
        self.idle_latencies.append((kind, ms))
        return ms

    async def navigate(self, name: str) -> bool:
        """Switch to the page whose name starts with ``name`` ("home": the main page)."""
        if name == "home":
            target = ""
        else:
            target = next((h for n, h in self.pages.items() if n.startswith(name.lower())), None)
            if target is None:
                raise LookupError(f"no page named {name!r} among {sorted(self.pages)}")
        self.widgets, self.states, self.fragments = {}, {}, {}
        await self._rerun(target)
        return True

    async def move_slider(self, label: str, fraction: float) -> bool:
        """Set the slider whose label starts with ``label`` to ``fraction`` of its range."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        slider = next((w for lab, w in self.widgets.items() if lab.startswith(label) and w.DESCRIPTOR.name == "Slider"),
                      None)
        if slider is None:
            return False
        state = WidgetState(id=slider.id)
        if slider.options:  # a select_slider: the option as shown (Streamlit maps it back)
            state.string_array_value.data.append(slider.options[round(fraction * (len(slider.options) - 1))])
        else:
            value = slider.min + round(fraction * (slider.max - slider.min) / slider.step) * slider.step
            state.double_array_value.data.append(value)
        self.states[slider.id] = state
        await self._rerun(self.page_hash, list(self.states.values()), self.fragments.get(slider.id, ""))
        return True

    async def set_number(self, label: str, value: float) -> bool:
        """Type ``value`` into the number input whose label starts with ``label``."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        field = next((w for lab, w in self.widgets.items()
                      if lab.startswith(label) and w.DESCRIPTOR.name == "NumberInput"), None)
        if field is None:
            return False
        state = WidgetState(id=field.id)
        if field.data_type == field.INT:
            state.int_value = int(value)
        else:
            state.double_value = float(value)
        self.states[field.id] = state
        await self._rerun(self.page_hash, list(self.states.values()), self.fragments.get(field.id, ""))
        return True

    async def click(self, label: str) -> bool:
        """Click the button whose label is ``label`` (whether the page shows it enabled or not: an
        attacker's client sends what it likes)."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        button = next((w for lab, w in self.widgets.items() if lab == label and w.DESCRIPTOR.name == "Button"), None)
        if button is None:
            return False
        trigger = WidgetState(id=button.id, trigger_value=True)
        await self._rerun(self.page_hash, [*self.states.values(), trigger], self.fragments.get(button.id, ""))
        return True

    async def rerun(self, fragment_of: str | None = None) -> bool:
        """Run the page again with the widgets as they are; or, given a widget's label, only the
        st.fragment it is drawn in (a fragment's ``run_every`` poll, as the browser sends it)."""
        widget = next((w for lab, w in self.widgets.items() if lab == fragment_of), None) if fragment_of else None
        await self._rerun(self.page_hash, list(self.states.values()), self.fragments.get(widget.id, "") if widget else "")
        return True

    def text(self) -> str:
        return "\n".join(self.texts)
