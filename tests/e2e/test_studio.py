"""The web studio in a real browser (Debian's Chromium, headless) against ``aura serve``.

A person signs up, creates a project, writes and auto-tags a script, picks a stock avatar,
watches the live 3D preview speak it (frames drawn, the mouth moving while the audio
plays), exports a 9:16 video, watches the progress bar reach 100% from realtime events and plays
the video in the page; on a laptop-sized and a phone-sized screen. A second person sees
none of the first one's projects or videos. Each screen is saved as a screenshot under
test-output/screenshots/<viewport>/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.support.browser import chromium, screenshot_path
from tests.support.served import Served, aura_serve
from tests.support.supabase import ANON_KEY
from tests.support.uploads import group_photo

VIEWPORTS = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
PASSWORD = "correct horse battery"
SCRIPT = "Hello everyone, welcome to my channel! [sadness:0.6] It was a long week."
EXPORT_TIMEOUT_MS = 240_000
UI_TIMEOUT_MS = 20_000
PREVIEW_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with aura_serve(tmp_path_factory.mktemp("studio")) as served:
        yield served


async def sign_up(page, served: Served, email: str) -> None:  # noqa: ANN001
    await page.goto(served.url + "/")
    await page.get_by_role("heading", name="Sign in to AuraStudio").wait_for()
    await page.get_by_role("button", name="Create an account").click()
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account", exact=True).click()
    await page.get_by_role("heading", name="Your projects").wait_for()


UNLABELLED_CONTROLS_JS = """() => {
    const named = (el) => {
        if (el.getAttribute('aria-label')?.trim()) return true;
        const by = el.getAttribute('aria-labelledby');
        if (by && by.split(/\\s+/).some(id => document.getElementById(id)?.textContent.trim()))
            return true;
        if (el.labels && [...el.labels].some(label => label.textContent.trim())) return true;
        if (['BUTTON', 'A', 'SUMMARY'].includes(el.tagName) && el.textContent.trim())
            return true;
        return Boolean(el.getAttribute('title')?.trim());
    };
    const controls = document.querySelectorAll(
        'button, a[href], input:not([type=hidden]), select, textarea, video[controls], '
        + 'audio[controls], canvas, [role=button], [role=progressbar], progress');
    return [...controls].filter(el => el.getClientRects().length && !named(el))
        .map(el => el.outerHTML.slice(0, 120));
}"""
"""Every visible control without a name a screen reader could say (an empty list is good)."""


async def unlabelled_controls(page) -> list[str]:  # noqa: ANN001
    return await page.evaluate(UNLABELLED_CONTROLS_JS)


async def create_project(page, title: str) -> None:  # noqa: ANN001
    """On the dashboard: make a project and wait for its editor."""
    await page.get_by_label("New project title").fill(title)
    await page.get_by_role("button", name="Create project").click()
    await page.get_by_role("heading", name=title).wait_for()


def socket_events(page) -> list[dict]:  # noqa: ANN001
    """Every JSON message the page's WebSockets receive, as they arrive."""
    events: list[dict] = []

    def follow(socket) -> None:  # noqa: ANN001
        socket.on("framereceived", lambda payload: events.append(json.loads(payload))
                  if isinstance(payload, str) else None)

    page.on("websocket", follow)
    return events


async def play_live_preview(page, viewport: str) -> dict:  # noqa: ANN001
    """In the open editor: Preview, wait for Ready, Play preview; what the canvas showed."""
    await page.get_by_role("button", name="Preview", exact=True).click()
    status = page.locator(".preview-panel [role=status]")
    await page.wait_for_function(
        "(status) => status.textContent === 'Ready' || /could not|error|no script/i"
        ".test(status.textContent)", arg=await status.element_handle(),
        timeout=PREVIEW_TIMEOUT_MS)
    ready = await status.text_content()
    canvas = page.get_by_label("Live preview")
    before = int(await canvas.get_attribute("data-frames"))
    await page.get_by_role("button", name="Play preview").click()
    samples = []
    for _ in range(10):
        await page.wait_for_timeout(150)
        samples.append(await canvas.evaluate(
            "(c) => [Number(c.dataset.frames), c.dataset.mouthOpen,"
            " document.querySelector('.preview-view audio').currentTime]"))
    await page.screenshot(path=screenshot_path(viewport, "2b-preview"), full_page=True)
    box = await canvas.bounding_box()
    return {"ready": ready, "before": before, "samples": samples, "box": box}


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_a_person_makes_a_video_from_sign_up_to_playing_it(served, viewport):
    async with chromium() as browser:
        context = await browser.new_context(viewport=VIEWPORTS[viewport])
        page = await context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        events = socket_events(page)
        job_reads: list[str] = []  # GET /api/export/<id>: the page's own reads of the job
        page.on("request", lambda request: job_reads.append(request.url) if (
            request.method == "GET"
            and re.search(r"/api/export/[0-9a-f-]{36}$", request.url)) else None)
        unnamed: list[str] = []

        await page.goto(served.url + "/")
        await page.get_by_role("heading", name="Sign in to AuraStudio").wait_for()
        await page.screenshot(path=screenshot_path(viewport, "1-sign-in"))
        unnamed += await unlabelled_controls(page)
        await sign_up(page, served, f"ada-{viewport}@example.com")
        await create_project(page, "My first video")

        # The editor: write, auto-tag (the untagged sentence gets an explicit tag).
        script = page.get_by_label("Script")
        await script.fill(SCRIPT)
        await page.get_by_role("button", name="Auto-tag").click()
        await page.wait_for_function(
            "() => /^\\[\\w+(:[\\d.]+)?\\] Hello everyone/.test("
            "document.querySelector('textarea').value)")
        tagged = await script.input_value()
        sentences = page.get_by_role("list", name="Sentences")
        await sentences.get_by_text("sadness").first.wait_for()
        await page.get_by_label("Ben").check()
        preview = await play_live_preview(page, viewport)  # before any render
        await page.get_by_label("Format").select_option(label="TikTok / Reels / Shorts (9:16)")
        await page.get_by_label("Quality").select_option(label="Draft")
        await page.screenshot(path=screenshot_path(viewport, "2-editor"), full_page=True)
        unnamed += await unlabelled_controls(page)

        # Export: the bar follows the realtime events to 100%, then the video plays.
        job_reads.clear()
        await page.get_by_role("button", name="Export video").click()
        bar = page.get_by_label("Export progress")
        await page.wait_for_function(
            "(bar) => Number(bar.value ?? bar.getAttribute('aria-valuenow')) >= 100",
            arg=await bar.element_handle(), timeout=EXPORT_TIMEOUT_MS)
        video = page.get_by_label("Exported video")
        await video.wait_for()
        facts = await video.evaluate("""async (video) => {
            if (video.readyState < 1)
                await new Promise(done => video.addEventListener('loadedmetadata', done));
            video.muted = true;
            await video.play();
            const started = video.currentTime;
            await new Promise(done => setTimeout(done, 700));
            return {duration: video.duration, width: video.videoWidth,
                    height: video.videoHeight, played: video.currentTime - started};
        }""")
        await page.screenshot(path=screenshot_path(viewport, "3-exported"), full_page=True)
        unnamed += await unlabelled_controls(page)

        await page.get_by_role("link", name="Projects").click()
        await page.get_by_role("heading", name="Your projects").wait_for()
        projects = page.get_by_role("list", name="Projects")
        await projects.get_by_text("Ready").wait_for()
        await page.screenshot(path=screenshot_path(viewport, "4-dashboard"), full_page=True)
        unnamed += await unlabelled_controls(page)
        await page.get_by_role("link", name="Library").click()
        await page.get_by_role("heading", name="Library").wait_for()
        await page.screenshot(path=screenshot_path(viewport, "5-library"), full_page=True)
        unnamed += await unlabelled_controls(page)
        wide = await page.evaluate("document.documentElement.scrollWidth")
        await context.close()

    assert re.search(r"\[sadness:0\.6\] It was a long week\.", tagged), tagged
    assert preview["ready"] == "Ready", preview
    frames = [frame for frame, _, _ in preview["samples"]]
    assert frames[-1] > frames[0] > preview["before"], preview  # drawn while the voice plays
    assert preview["samples"][-1][2] > 0.5, preview  # the audio plays
    assert len({mouth for _, mouth, _ in preview["samples"]}) >= 3, preview  # the mouth moves
    assert preview["box"]["width"] <= VIEWPORTS[viewport]["width"]
    jobs = [e for e in events if e.get("type") == "export_job"]
    assert jobs and jobs[-1]["status"] == "completed" and jobs[-1]["progress"] == 1.0
    # The bar followed the socket, not polling (every 3 s while the socket is down): the
    # page read the job over HTTP for its video link at the end, and at most once more
    # (a socket that reconnects reads it again). Steps may arrive folded into fewer events.
    assert len(job_reads) <= 2, job_reads
    assert (facts["width"], facts["height"]) == (720, 1280)  # 9:16 at 720p
    assert facts["duration"] > 2.0 and facts["played"] > 0.2
    assert wide <= VIEWPORTS[viewport]["width"]  # nothing wider than the screen
    assert unnamed == []  # every control on every screen has a name for screen readers


async def test_a_second_person_sees_none_of_the_first_ones_work(served):
    async with chromium() as browser:
        first = await browser.new_context(viewport=VIEWPORTS["laptop"])
        page = await first.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        await sign_up(page, served, "first@example.com")
        await create_project(page, "Private plans")
        private_url = page.url

        second = await browser.new_context(viewport=VIEWPORTS["laptop"])
        other = await second.new_page()
        other.set_default_timeout(UI_TIMEOUT_MS)
        await sign_up(other, served, "second@example.com")
        await other.get_by_text("No projects yet").wait_for()
        dashboard = await other.get_by_role("main").inner_text()
        await other.get_by_role("link", name="Library").click()
        await other.get_by_text("Nothing here yet").wait_for()
        await other.goto(private_url)
        refusal = other.get_by_role("alert")
        await refusal.wait_for()
        refused = await refusal.inner_text()
        shown = await other.get_by_role("main").inner_text()

    assert "Private plans" not in dashboard and "Private plans" not in shown
    assert "there is no project" in refused.lower(), refused


async def test_the_link_aura_serve_prints_signs_in_once(served):
    [link] = re.findall(r"AuraStudio +(http://\S+/#/link/\S+)", served.log.read_text())
    async with chromium() as browser:
        page = await browser.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        await page.goto(link)
        await page.get_by_role("heading", name="Your projects").wait_for()
        header = await page.get_by_role("banner").inner_text()
        address = page.url
        again = await browser.new_page()
        await again.goto(link)
        await again.get_by_role("heading", name="Sign in to AuraStudio").wait_for()
        refusal = await again.get_by_role("alert").inner_text()

    assert "me@aurastudio.localhost" in header
    assert "/link/" not in address  # the code leaves the address bar and the history
    assert refusal.startswith("The sign-in link did not work") and "used already" in refusal


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_a_person_makes_an_avatar_from_a_photo_and_records_a_voice(
        served, viewport, tmp_path):
    import cv2
    import numpy as np
    from skimage import data

    portrait = tmp_path / "astronaut.png"
    cv2.imwrite(str(portrait), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((320, 320, 3), (90, 140, 200), np.uint8))
    group = tmp_path / "group.png"
    cv2.imwrite(str(group), cv2.cvtColor(group_photo()[0], cv2.COLOR_RGB2BGR))

    async with chromium() as browser:
        context = await browser.new_context(viewport=VIEWPORTS[viewport])
        page = await context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        await sign_up(page, served, f"photo-{viewport}@example.com")
        await create_project(page, "My own face")

        # A photo becomes an avatar, selected once made.
        upload = page.locator(".avatar-upload")
        await page.get_by_label("Upload a photo").set_input_files(str(portrait))
        await upload.get_by_role("status").get_by_text("ready and selected").wait_for(
            timeout=PREVIEW_TIMEOUT_MS)
        astronaut = page.get_by_role("radio", name="Astronaut")
        chosen = await astronaut.is_checked()
        saved_avatar = await page.evaluate("""async () => {
            const token = JSON.parse(localStorage.getItem(
                'aura.session')).access_token;
            const id = location.hash.split('/').pop();
            const project = await (await fetch('/api/projects/' + id,
                {headers: {Authorization: 'Bearer ' + token}})).json();
            return project.settings.avatar;
        }""")
        avatar_value = await astronaut.get_attribute("value")

        # A group photo: the largest face is used; another is chosen by its number, and
        # the avatar made first goes, so the list holds one of the group.
        await page.get_by_label("Upload a photo").set_input_files(str(group))
        await upload.get_by_role("status").get_by_text("it uses face 2 (middle)").wait_for(
            timeout=PREVIEW_TIMEOUT_MS)
        faces_warning = await page.get_by_label("Photo warnings").inner_text()
        await page.get_by_role("button", name="Use face 3 (right)").click()
        await upload.get_by_role("status").get_by_text(
            "The one made from face 2 was removed").wait_for(timeout=PREVIEW_TIMEOUT_MS)
        in_use = await page.get_by_role("button", name="Use face 3 (right), in use",
                                        exact=True).get_attribute("aria-pressed")
        group_radios = page.get_by_role("radio", name="Group", exact=True)
        group_count = await group_radios.count()
        group_chosen = await group_radios.is_checked()
        face_controls_unnamed = await unlabelled_controls(page)
        faces_wide = await page.evaluate("document.documentElement.scrollWidth")
        await page.locator(".face-choice").scroll_into_view_if_needed()
        await page.screenshot(path=screenshot_path(viewport, "2c-avatar-faces"), full_page=True)

        # A photo without a face is refused, in words.
        await page.get_by_label("Upload a photo").set_input_files(str(blank))
        refusal = upload.get_by_role("alert")
        await refusal.get_by_text("face").wait_for(timeout=PREVIEW_TIMEOUT_MS)
        refused = await refusal.inner_text()

        # A voice from the catalogue, then a recording with the (fake) microphone.
        await page.get_by_label("Voice", exact=True).select_option("joe-deep")
        await page.get_by_role("button", name="Start recording").click()
        await page.wait_for_timeout(2500)
        await page.get_by_role("button", name="Stop recording").click()
        await page.get_by_label("Your recording").wait_for()
        await page.get_by_role("button", name="Use this recording").click()
        await page.get_by_text("Your recording is the project's voice.").wait_for(
            timeout=PREVIEW_TIMEOUT_MS)
        voice = await page.get_by_label("Voice", exact=True).input_value()

        # The trickster: a preset moves the sliders; try it on the recording.
        await page.get_by_label("Effect preset").select_option("chipmunk")
        pitch = await page.get_by_label("Pitch (semitones)").input_value()
        await page.get_by_role("button", name="Try the effect").click()
        result = page.get_by_label("Effect result")
        await result.wait_for(timeout=PREVIEW_TIMEOUT_MS)
        duration = await result.evaluate("""async (audio) => {
            if (!(audio.duration > 0))
                await new Promise((done) => audio.addEventListener('loadedmetadata', done));
            return audio.duration;
        }""")
        await page.locator(".voice-panel").scroll_into_view_if_needed()
        await page.screenshot(path=screenshot_path(viewport, "2c-avatar-voice"), full_page=True)
        alerts = await page.locator(".voice-panel [role=alert]").all_inner_texts()
        wide = await page.evaluate("document.documentElement.scrollWidth")
        overflowing = await page.evaluate("""() => [...document.querySelectorAll('main *')]
            .filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5)
            .map((e) => `${e.tagName}.${e.className} ${e.getBoundingClientRect().right}`)
            .slice(0, 8)""")
        await context.close()

    assert chosen and saved_avatar == avatar_value, (chosen, saved_avatar, avatar_value)
    assert "Found 3 faces: 1 (left), 2 (middle, largest, used), 3 (right)" in faces_warning
    assert in_use == "true" and group_count == 1 and group_chosen
    assert face_controls_unnamed == [], face_controls_unnamed
    assert faces_wide <= VIEWPORTS[viewport]["width"]
    assert "no face was found" in refused.lower(), refused
    assert voice.startswith("recording:assets/") and voice.endswith(".webm"), voice
    assert pitch == "8"
    assert duration > 0, duration
    assert not any(alerts), alerts
    assert wide <= VIEWPORTS[viewport]["width"], overflowing  # nothing wider than the screen


async def test_with_a_supabase_project_the_studio_signs_in_through_supabase(
        supabase_project, tmp_path):
    with aura_serve(tmp_path, AURA_SUPABASE_URL=supabase_project.url,
                    AURA_SUPABASE_ANON_KEY=ANON_KEY) as served:
        async with chromium() as browser:
            page = await browser.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            await sign_up(page, served, "sb-user@example.com")
            await create_project(page, "Made with Supabase")
            await page.get_by_role("button", name="Sign out").click()
            await page.get_by_role("heading", name="Sign in to AuraStudio").wait_for()

    assert "sb-user@example.com" in supabase_project.users  # Supabase made the user
    assert supabase_project.refresh_tokens == {}  # and ended the session at sign-out
