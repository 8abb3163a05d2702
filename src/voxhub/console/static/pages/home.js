// "/" and "/w/:ws": straight on to the files of the workspace last used (or the personal one).

function preferred(ctx) {
  let id = null;
  try {
    id = localStorage.getItem("voxhub.workspace");
  } catch {
    id = null;
  }
  return ctx.workspaces.find((ws) => ws.id === id) || ctx.workspaces.find((ws) => ws.personal) || ctx.workspaces[0];
}

export async function home(view, ctx) {
  const ws = preferred(ctx);
  ctx.navigate(ws ? `/w/${ws.id}/files` : "/account", { replace: true });
}

export async function workspaceHome(view, ctx) {
  ctx.navigate(`/w/${ctx.ws.id}/files`, { replace: true });
}
