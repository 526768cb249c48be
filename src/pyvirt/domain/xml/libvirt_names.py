"""The element names libvirt 9.0's domain grammar knows, anywhere in a document: the
``<element name>`` of ``domain.rng`` and the files it includes (names only, listed from
Debian's ``/usr/share/libvirt/schemas``). An element outside this list is one libvirt's
parser skips without a word; pyvirt drops it too, with a warning
(:mod:`pyvirt.domain.xml.unknown`)."""

from __future__ import annotations

_NAMES = """
acceleration access acpi active_pcr_banks adapter add address alias alignsize allocation
apic arch arg audio audit_control audit_write auth avic backend backenddomain
backingStore bandwidth baseBoard baselabel binary bios blkiotune block block_suspend
blockio boot bootloader bootloader_args bootmenu cache cachetune capabilities catchup
cbitpos ccf-assist cell certificate cfpc channel char chassis chown cid cipher clipboard
clock clusterSize cmdline coalesce codec commandline compat config console controller
cookie cookies counter cpu cputune current currentMemory dac_override dac_read_search
database datacenterpath defaultiothread del deprecation description device devices
dhCert direct dirty-ring discard disk distances domain downscript driver dtb e820_host
emulator emulator_period emulator_quota emulatorpin emulatorsched encryption entry env
event evmcs extended_l2 feature features fibrechannel filesystem filetransfer filterref
firmware format fowner frames frequencies frontend fsetid genid geometry gic gid gl
global_period global_quota graphics group group_name guest handle hap hard_limit hidden
hint-dedicated host hostdev hpt htm hub hugepages hyperv ibs identity idmap image
imagelabel inactiveDomain inbound init initarg initdir initenv initgroup initiator
initrd inituser input interconnects interface ioapic iommu iothread iothread_period
iothread_quota iothreadids iothreadpin iothreads iothreadsched iotune ip ipc_lock
ipc_owner ipi iqn ivgen jpeg kernel key keywrap kill kvm label latency launchSecurity
lazy_refcounts lease line link linux_immutable listen loader local lock locked lockspace
log mac mac_admin mac_override master maxMemory max_size maxpagesize maxphysaddr
memballoon memnode memory memoryBacking memorytune memtune metadata metadata_cache
microcode min_guarantee mirror mknod mode model monitor mouse msi msrs mtu name
namespace nested-hv net_admin net_bind_service net_broadcast net_raw node nodemask
nonpae nosharepages numa numatune nvram oemStrings on_crash on_lockfailure on_poweroff
on_reboot os outbound output override owner pae page pages pagesize panic parallel
parameter parameters parentaddr partition passthrough path pcihole64 perf period
permissions playback pm pmem pmu policy poll-control port portForward privateData
privnet product property protocol pv-ipi pvspinlock quota range rate read_bytes_sec
read_bytes_sec_max read_bytes_sec_max_length read_iops_sec read_iops_sec_max
read_iops_sec_max_length readahead readonly reconnect redirdev redirfilter
reducedPhysBits reenlightenment relaxed requested reservations reset resolution resource
rng rom root route runtime rx sandbox sbbc script seclabel secret serial server session
setfcap setgid setpcap settings setuid sha1 sha256 sha384 sha512 shareable shareipc
sharenet shares shareuts shmem sibling signature size size_iops_sec slice slices
smartcard smbios smm snapshot sndbuf soft_limit sound source space_hard_limit
space_soft_limit spinlocks ssl stats stimer streaming suspend-to-disk suspend-to-mem svm
swap_hard_limit synic sys_admin sys_boot sys_chroot sys_module sys_nice sys_pacct
sys_ptrace sys_rawio sys_resource sys_time sys_tty_config sysinfo syslog system table
tag target tb-cache tcg teaming thread_pool timeout timer title tlbflush topology
total_bytes_sec total_bytes_sec_max total_bytes_sec_max_length total_iops_sec
total_iops_sec_max total_iops_sec_max_length tpm transient tseg tune tx type uid usbdev
usecs uuid vapic vcpu vcpupin vcpus vcpusched vendor vendor_id video viridian
virtualport vlan vmcoreinfo vmport vmx vpindex vsock wake_alarm watchdog weight
write_bytes_sec write_bytes_sec_max write_bytes_sec_max_length write_iops_sec
write_iops_sec_max write_iops_sec_max_length wwn xen zlib zpci
"""
LIBVIRT_DOMAIN_ELEMENTS = frozenset(_NAMES.split())
