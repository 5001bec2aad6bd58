// The media types of OCI and Docker schema 2 images (image-spec mediatype.go, containerd images/mediatypes.go).
export const mediaTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** The Accept header of a manifest request, in containerd's order, with any type last. */
export const manifestAccept = [
  mediaTypes.dockerManifest,
  mediaTypes.dockerManifestList,
  mediaTypes.ociManifest,
  mediaTypes.ociIndex,
  '*/*',
].join(', ');

export const isIndexType = (t: string) => t === mediaTypes.ociIndex || t === mediaTypes.dockerManifestList;
export const isManifestType = (t: string) => t === mediaTypes.ociManifest || t === mediaTypes.dockerManifest;
export const isSchema1Type = (t: string) => t === mediaTypes.dockerSchema1 || t === mediaTypes.dockerSchema1Signed;

/** Content types that say nothing about a manifest's kind; some registries send them, the body then decides. */
export function isGenericType(t: string): boolean {
  return t === '' || t === 'application/json' || t === 'text/plain' || t === 'application/octet-stream';
}

/** A Content-Type header without its parameters ("application/json; charset=utf-8" -> "application/json"). */
export function bareMediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}
