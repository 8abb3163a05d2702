// "/" and "/w/:ws": straight on to the files of the workspace last used (or the personal one).

export async function home(view, ctx) {
  const ws = ctx.preferredWorkspace;
  ctx.navigate(ws ? `/w/${ws.id}/files` : "/account", { replace: true });
}

export async function workspaceHome(view, ctx) {
  ctx.navigate(`/w/${ctx.ws.id}/files`, { replace: true });
}
