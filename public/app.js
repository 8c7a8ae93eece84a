// Progressive enhancement only: every page works without this file (CSP: script-src 'self',
// so it is the one script and it is never inline). Written for evergreen browsers.

(() => {
  const units = ['B', 'KiB', 'MiB', 'GiB'];

  function humanSize(bytes) {
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return unit === 0 ? `${bytes} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
  }

  function flash(button, text) {
    const original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    button.textContent = text;
    window.setTimeout(() => {
      button.textContent = original;
    }, 1500);
  }

  // Copy buttons: hidden in the markup, shown when the clipboard API is there to back them.
  function setUpCopyButtons() {
    if (!navigator.clipboard) return;
    for (const button of document.querySelectorAll('button.copy')) {
      button.hidden = false;
      button.addEventListener('click', async () => {
        const byText = button.dataset.copyTarget && document.getElementById(button.dataset.copyTarget);
        const byHref = button.dataset.copyHref && document.getElementById(button.dataset.copyHref);
        const value = byText ? byText.textContent : byHref ? byHref.getAttribute('href') : '';
        try {
          await navigator.clipboard.writeText(value || '');
          flash(button, 'Copied');
        } catch {
          flash(button, 'Copy failed');
        }
      });
    }
  }

  // The upload form: show the chosen file, accept a file dropped anywhere on the page.
  function setUpUploadForm() {
    const form = document.getElementById('upload-form');
    const input = document.getElementById('torrent-file');
    const chosen = document.getElementById('chosen-file');
    const magnet = document.getElementById('magnet-input');
    if (!form || !input || !chosen) return;

    const showChoice = () => {
      const file = input.files?.[0];
      chosen.textContent = file ? `${file.name} · ${humanSize(file.size)}` : '';
      form.classList.toggle('has-file', Boolean(file));
    };
    input.addEventListener('change', () => {
      showChoice();
      if (magnet && input.files && input.files.length > 0) magnet.value = '';
    });

    form.addEventListener('submit', () => {
      const button = form.querySelector('button[type="submit"]');
      if (button) {
        button.disabled = true;
        button.textContent = 'Asking the trackers…';
      }
    });

    const carriesFiles = (event) => Boolean(event.dataTransfer && Array.from(event.dataTransfer.types).includes('Files'));
    let depth = 0;
    const setDragging = (on) => document.body.classList.toggle('dragging', on);
    document.addEventListener('dragenter', (event) => {
      if (!carriesFiles(event)) return;
      depth += 1;
      setDragging(true);
    });
    document.addEventListener('dragleave', (event) => {
      if (!carriesFiles(event)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDragging(false);
    });
    document.addEventListener('dragover', (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
    });
    document.addEventListener('drop', (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      depth = 0;
      setDragging(false);
      const files = event.dataTransfer.files;
      if (files.length !== 1) {
        chosen.textContent = 'Drop one .torrent file at a time.';
        return;
      }
      input.files = files;
      showChoice();
      if (magnet) magnet.value = '';
      if (typeof form.requestSubmit === 'function') form.requestSubmit();
      else form.submit();
    });
  }

  // A permalink page keeps itself fresh: reload on a timer, paused while the tab is hidden.
  // (Without JavaScript a <noscript> meta refresh does the same, minus the pause.)
  function setUpAutoRefresh() {
    const seconds = Number(document.body.dataset.refreshSeconds);
    if (!(seconds > 0)) return;
    const status = document.getElementById('refresh-status');
    let remaining = seconds;
    const show = () => {
      if (status) status.textContent = `Next update in ${remaining} s.`;
    };
    show();
    window.setInterval(() => {
      if (document.hidden) return;
      remaining -= 1;
      if (remaining <= 0) {
        window.location.reload();
        return;
      }
      show();
    }, 1000);
  }

  setUpCopyButtons();
  setUpUploadForm();
  setUpAutoRefresh();
})();
