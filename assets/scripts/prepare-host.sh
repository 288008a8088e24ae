# Prepares a host for ethnode: base packages, the data directory (on its own volume when one is attached),
# the shared directories, and the group that may read the JWT.
export DEBIAN_FRONTEND=noninteractive
missing=()
for pkg in curl ca-certificates tar jq; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  apt_get update -q
  apt_get install -y -q --no-install-recommends "${missing[@]}"
fi

data_dir={{{dataDir}}}
volume_id={{{volumeId}}}
if [[ -n "$volume_id" ]]; then
  # EBS volumes appear as NVMe devices whose serial is the volume id without its dash.
  device="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volume_id/-/}"
  wait_until 180 "data volume ${volume_id}" test -b "$device"
  if ! blkid "$device" >/dev/null 2>&1; then
    mkfs.ext4 -q -L ethnode-data "$device"
  fi
  uuid=$(blkid -s UUID -o value "$device")
  install -d -m 0755 "$data_dir"
  if ! grep -q "UUID=${uuid}" /etc/fstab; then
    echo "UUID=${uuid} ${data_dir} ext4 defaults,noatime,nofail 0 2" >>/etc/fstab
  fi
  mountpoint -q "$data_dir" || mount "$data_dir"
fi
install -d -m 0755 "$data_dir" /etc/ethnode /opt/ethnode
getent group ethnode-jwt >/dev/null || groupadd --system ethnode-jwt
echo "host ready: $(hostname) data=${data_dir} free=$(df -h --output=avail "$data_dir" | tail -1 | tr -d ' ')"
