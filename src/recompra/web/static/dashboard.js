// Recompra dashboard: the phone menu toggle and the navigation's drop-down groups
// (the only script; pages work without it).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const toggle = document.getElementById("menu-toggle");
  const nav = document.getElementById("site-nav");
  if (!toggle || !nav) return;
  const phone = window.matchMedia("(max-width: 899px)");
  const setOpen = (open) => {
    toggle.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
  };
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    setOpen(open);
    if (open) nav.querySelector("a")?.focus();
  });

  // Drop-down groups: a button with aria-expanded opens its list (Enter/Space or a click);
  // Escape, a click elsewhere or focus leaving the group closes it. On phones every group
  // is shown open inside the menu, so the buttons only label the groups there.
  const groups = Array.from(nav.querySelectorAll(".nav-group"));
  const setGroup = (group, open) => {
    group.classList.toggle("open", open);
    group.querySelector(".nav-group-toggle").setAttribute("aria-expanded", String(open));
  };
  const layout = () => groups.forEach((group) => setGroup(group, phone.matches));
  layout();
  phone.addEventListener("change", layout);
  groups.forEach((group) => {
    const button = group.querySelector(".nav-group-toggle");
    button.addEventListener("click", () => {
      if (phone.matches) return;
      const open = !group.classList.contains("open");
      groups.forEach((other) => setGroup(other, false));
      setGroup(group, open);
    });
    group.addEventListener("focusout", (event) => {
      if (!phone.matches && !group.contains(event.relatedTarget)) setGroup(group, false);
    });
  });
  document.addEventListener("click", (event) => {
    if (phone.matches) return;
    groups.forEach((group) => {
      if (!group.contains(event.target)) setGroup(group, false);
    });
  });

  // Escape closes the open drop-down (focus back on its button), else the phone menu.
  nav.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const open = groups.find((group) => group.classList.contains("open"));
    if (open && !phone.matches) {
      setGroup(open, false);
      open.querySelector(".nav-group-toggle").focus();
    } else if (nav.classList.contains("open")) {
      setOpen(false);
      toggle.focus();
    }
  });
});
